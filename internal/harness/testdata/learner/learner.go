// Package learner stands in for a learner's lesson code in the harness's own
// tests: each function is a mistake whose report the tests check, line by
// line (keep the lines where they are, or update the tests).
package learner

import "sync"

// Quick returns at once.
func Quick() int { return 42 }

// Send sends on ch, which nobody may be receiving from.
func Send(ch chan<- int) {
	ch <- 1 // line 13
}

// CloseTwice closes ch twice.
func CloseTwice(ch chan int) {
	close(ch)
	close(ch) // line 19
}

// Hub locks its mutex around everything.
type Hub struct{ mu sync.Mutex }

// Lock takes the hub's lock; Unlock lets go of it.
func (h *Hub) Lock()   { h.mu.Lock() }
func (h *Hub) Unlock() { h.mu.Unlock() }

// Publish waits for the hub's lock.
func (h *Hub) Publish() {
	h.mu.Lock() // line 31
	defer h.mu.Unlock()
}

// Explode panics, as a handler's helper might.
func Explode() {
	var m map[string]int
	m["boom"] = 1 // line 38
}
