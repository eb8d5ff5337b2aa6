package harness

import (
	"testing"
	"time"
)

// Every wait in the harness goes through limitFor, so every one gives up in
// time to report while the calls are still in progress: after WaitLimit, or
// sooner if a call the test made with Context would otherwise reach its
// fail-safe first (a test that already waited for other things can be close
// to it). What a report then describes is the calls as they were, never as
// the fail-safe tore them down.

// failSafeMargin is how long before a call's fail-safe a wait gives up.
const failSafeMargin = 250 * time.Millisecond

// limitFor is how long a wait in t may last.
func limitFor(t testing.TB) time.Duration {
	limit := waitLimit
	mine := map[*testRun]bool{}
	for _, tr := range visibleRuns(t) {
		mine[tr] = true
	}
	for _, r := range recordersOf(t) {
		r.mu.Lock()
		for _, c := range r.calls {
			if mine[c.owner] && !c.clientDone && c.ctx.Err() == nil {
				limit = min(limit, max(time.Until(c.failSafe)-failSafeMargin, 0))
			}
		}
		r.mu.Unlock()
	}
	return limit
}

// until waits until ready reports true, calling it again each time the
// channel it returned is closed; it fails the test, as Blocked does, if that
// takes longer than limitFor(t).
func until(t testing.TB, what string, ready func() (bool, <-chan struct{})) {
	t.Helper()
	limit := limitFor(t)
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		ok, changed := ready()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-timer.C:
			giveUp(t, what, limit, 0)
		}
	}
}

// Wait receives one value from ch. If none arrives within WaitLimit, it fails
// the test, saying what it waited for and what is blocked.
func Wait[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	track(t)
	limit := limitFor(t)
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		giveUp(t, what, limit, 0)
		panic("unreachable")
	}
}

// pollEvery is how often Eventually looks again.
const pollEvery = 2 * time.Millisecond

// Eventually reports whether cond holds within WaitLimit, looking again every
// few milliseconds. It is for what nothing signals, such as a goroutine that
// has ended or that now waits somewhere (goleak looks the same way); for
// anything a channel can tell, use Wait.
func Eventually(cond func() bool) bool {
	give := Timeout()
	poll := time.NewTicker(pollEvery)
	defer poll.Stop()
	for !cond() {
		select {
		case <-poll.C:
		case <-give:
			return cond()
		}
	}
	return true
}

// Blocked fails the test because what it waited for did not happen within
// WaitLimit: it says what, where the lesson's code is stuck, and which side of
// each call in progress is blocked.
func Blocked(t testing.TB, what string) {
	t.Helper()
	giveUp(t, what, waitLimit, 0)
}

// giveUp fails t after it waited that long for what; first is the goroutine
// to name first in the stuck report (0: none).
func giveUp(t testing.TB, what string, waited time.Duration, first int) {
	t.Helper()
	track(t)
	report := stuckReport(allGoroutines(), first)
	if report != "" {
		report = "\n" + report
	}
	blocked := freezeAll(t, "the test gave up waiting for "+what, true)
	t.Fatalf("waited %v for %s, and it never happened: something is blocked.%s%s", waited, what, report, blocked)
}
