// Mistake: Delay calls rand.Float64 itself instead of b.Rand.
//
// Why it is wrong: The randomness is no longer injected: a test cannot choose
// it, so it cannot check a single wait exactly.
//
// Caught by: TestResilience_Backoff_DoublesUpToTheCap

// Package resilience is lesson 06 of the workbook: a subscriber that survives
// server restarts and lost connections, and a publish that may be retried
// without publishing twice. README.md in this folder tells the story and
// lists the tasks; each TODO below names the task it belongs to.
package resilience

import (
	"math/rand/v2"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Retryable reports whether a call that failed with err can succeed if it is
// made again, unchanged, a little later. Only codes.Unavailable can: the
// server is restarting or the connection was lost. Every other code says
// something a retry cannot change (the request is wrong, the caller may not,
// the caller's time is up, the caller gave up), so retrying it only repeats
// the failure, or hides a bug.
func Retryable(err error) bool {
	return status.Code(err) == codes.Unavailable
}

// Backoff says how long to wait before each retry: exponential growth with a
// cap, and full jitter (AWS's name for it): the wait before retry number
// attempt is chosen uniformly between 0 and min(Cap, Base·2^attempt).
type Backoff struct {
	Base time.Duration // the ceiling for attempt 0
	Cap  time.Duration // no ceiling grows past this
	// Rand returns a number in [0, 1): rand.Float64, or a test's choice.
	Rand func() float64
}

// DefaultBackoff waits up to 100 ms before the first retry, then up to
// 200 ms, 400 ms, ... and never more than 5 s.
func DefaultBackoff() Backoff {
	return Backoff{Base: 100 * time.Millisecond, Cap: 5 * time.Second, Rand: rand.Float64}
}

// Delay returns the wait before retry number attempt (0, 1, 2, ...).
func (b Backoff) Delay(attempt int) time.Duration {
	ceiling := b.Base
	// Doubling only while above 0 and below Cap: no overflow, and no
	// MaxInt-long loop for a zero Base, however large attempt is.
	for i := 0; i < attempt && 0 < ceiling && ceiling < b.Cap; i++ {
		ceiling *= 2
	}
	return time.Duration(rand.Float64() * float64(min(ceiling, b.Cap)))
}
