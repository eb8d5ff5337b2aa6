package bidi_test

import (
	"testing"
	"time"

	"github.com/grpc-workbook/streaming/internal/harness"
)

// The README sections failing tests point at.
const (
	task1 = "Task 1: Answer every request by id"
	task2 = "Task 2: One writer goroutine"
	task3 = "Task 3: Send and receive at once"
	task4 = "Task 4: Read with a timeout"
	task5 = "Task 5: Push tasks, collect acks"
	task6 = "Task 6: End the stream cleanly"
)

// failSafe returns a channel that fires at the harness's fail-safe deadline.
// Tests select on it next to a channel that can also tell them the code under
// test gave up early, so a stub fails at once instead of after five seconds.
func failSafe(t *testing.T) <-chan time.Time {
	timer := time.NewTimer(harness.FailSafe)
	t.Cleanup(func() { timer.Stop() })
	return timer.C
}
