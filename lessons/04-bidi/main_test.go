package bidi_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine outlives the tests: a handler
// that never returns, a receiving goroutine stuck on a channel nobody reads,
// or a stream nobody released.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
