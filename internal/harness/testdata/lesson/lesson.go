// Package lesson is a fixture for the harness's own tests: its code plays a
// learner's, with a mistake in each function. The tests check the lines
// named here: keep them where they are, or update fixture_test.go.
package lesson

import "sync"

// Hub counts what it publishes.
type Hub struct {
	mu sync.Mutex
	n  int
}

// Publish holds the lock while it calls Count, which takes it again: Go's
// mutexes are not re-entrant, so it waits for itself forever.
func (h *Hub) Publish() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n = h.Count() + 1
}

// Count returns how many were published.
func (h *Hub) Count() int {
	h.mu.Lock() // line 24
	defer h.mu.Unlock()
	return h.n
}

// StartBroken starts a goroutine that closes a channel twice.
func StartBroken() {
	go func() {
		ch := make(chan int)
		close(ch)
		close(ch) // line 34
	}()
}

// Leak starts a goroutine that nothing ever ends.
func Leak() {
	go func() {
		<-make(chan int) // line 41
	}()
}
