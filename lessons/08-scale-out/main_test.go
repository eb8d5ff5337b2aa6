package scaleout_test

import (
	"testing"

	"github.com/grpc-workbook/streaming/internal/harness"
)

// TestMain runs the tests with the harness watchdog, and fails the package
// if any goroutine outlives them: a handler that never returned, a broker
// nobody shut down, a consumer iterator nobody stopped.
func TestMain(m *testing.M) { harness.Main(m) }
