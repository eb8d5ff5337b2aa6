package pubsub_test

import (
	"testing"

	"github.com/grpc-workbook/streaming/internal/harness"
)

// TestMain runs the tests with the harness's watchdog, and fails the package
// if any goroutine outlives them: a handler that never returned, a RunTimer
// nobody stopped, a stream nobody ended.
func TestMain(m *testing.M) { harness.Main(m) }
