package serverstream_test

import (
	"testing"

	"github.com/grpc-workbook/streaming/internal/harness"
)

// TestMain fails the package if any goroutine outlives the tests: a handler
// that never returns, a stream nobody ended, or a Reader nobody closed.
func TestMain(m *testing.M) {
	harness.Main(m)
}
