package harness

import (
	"testing"
	"time"
)

// WaitForTimerOr waits, like c.WaitForTimer, until the code under test starts
// a timer with c.After, unless a value arrives on ch first. Use it when the
// code may return without ever starting a timer (a stub, or a wrong answer):
// the test can then fail at once instead of at the fail-safe.
//
// started is true when a timer came first; index and d describe it as
// WaitForTimer would. Otherwise v is the value received from ch.
func WaitForTimerOr[T any](t testing.TB, c *FakeClock, ch <-chan T, what string) (index int, d time.Duration, v T, started bool) {
	t.Helper()
	timer := time.NewTimer(FailSafe)
	defer timer.Stop()
	select {
	case <-c.created:
		c.mu.Lock()
		defer c.mu.Unlock()
		index = c.seen
		c.seen++
		return index, c.waits[index], v, true
	case v = <-ch:
		return 0, 0, v, false
	case <-timer.C:
		t.Fatalf("waited %v for the code under test to start a timer with After, or for %s, and neither happened: something is blocked", FailSafe, what)
		panic("unreachable")
	}
}
