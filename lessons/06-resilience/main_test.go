package resilience_test

import (
	"testing"

	"github.com/grpc-workbook/streaming/internal/harness"
)

// TestMain fails the package if any goroutine outlives the tests: a Follow
// that never returned, a handler still waiting for events.
func TestMain(m *testing.M) {
	harness.Main(m)
}
