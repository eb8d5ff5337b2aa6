package pubsub_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine outlives the tests: a handler
// that never returned, a RunTimer nobody stopped, a stream nobody ended.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
