package clientstream_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine outlives the tests: a handler
// still waiting on Recv, or a stream nobody finished.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
