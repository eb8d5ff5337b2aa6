package interceptors_test

import (
	"testing"

	"github.com/grpc-workbook/streaming/internal/harness"
)

// TestMain fails the package if any goroutine outlives the tests: a handler
// still waiting for readings, a Follow that never returned.
func TestMain(m *testing.M) {
	harness.Main(m)
}
