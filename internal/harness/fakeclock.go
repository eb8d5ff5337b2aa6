package harness

import (
	"sync"
	"testing"
	"time"
)

// FakeClock stands in for time.After in code under test, so a test decides
// when a timeout fires instead of waiting for it. Give the code c.After where
// it would call time.After; then WaitForTimer to see it start waiting, and
// Fire to end the wait.
type FakeClock struct {
	mu      sync.Mutex
	timers  []chan time.Time
	waits   []time.Duration
	created chan struct{} // one value per After call
	seen    int           // timers already reported by WaitForTimer
}

// NewFakeClock returns a clock with no timers yet.
func NewFakeClock() *FakeClock {
	return &FakeClock{created: make(chan struct{}, 1024)}
}

// After has time.After's signature. The returned channel receives a value
// only when the test calls Fire.
func (c *FakeClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.mu.Lock()
	c.timers = append(c.timers, ch)
	c.waits = append(c.waits, d)
	c.mu.Unlock()
	c.created <- struct{}{}
	return ch
}

// WaitForTimer waits until the code under test has called After once more
// than the timers seen so far by WaitForTimer, and returns that timer's index
// and requested duration.
func (c *FakeClock) WaitForTimer(t testing.TB) (index int, d time.Duration) {
	t.Helper()
	Wait(t, c.created, "the code under test to start a timer with After")
	c.mu.Lock()
	defer c.mu.Unlock()
	// After appends before it signals, so the timer numbered seen exists now.
	index = c.seen
	c.seen++
	return index, c.waits[index]
}

// Fire makes timer index go off. Firing a timer twice does nothing more.
func (c *FakeClock) Fire(index int) {
	c.mu.Lock()
	ch := c.timers[index]
	c.mu.Unlock()
	select {
	case ch <- time.Time{}:
	default:
	}
}
