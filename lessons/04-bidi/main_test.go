package bidi_test

import (
	"testing"

	"github.com/grpc-workbook/streaming/internal/harness"
)

// TestMain runs the tests under the harness: a stuck test ends the run
// within seconds, saying where your code waits, and the package fails if any
// goroutine outlives the tests.
func TestMain(m *testing.M) { harness.Main(m) }
