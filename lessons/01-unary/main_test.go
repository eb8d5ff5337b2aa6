package unary_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine outlives the tests: a handler
// that never returns, or a connection nobody closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
