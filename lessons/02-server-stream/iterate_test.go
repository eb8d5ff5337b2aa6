package serverstream_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/internal/harness"
	serverstream "github.com/grpc-workbook/streaming/lessons/02-server-stream"
	"github.com/grpc-workbook/streaming/lessons/02-server-stream/logpb"
)

// Ranging over All on a stream of 3 lines that ends with OK: the 3 lines,
// each with a nil error, and then the loop ends with no error.
func TestServerStream_All_RangesOverEveryLine(t *testing.T) {
	want := numbered("compiling", "linking", "done")
	client, _ := startScripted(t, &scriptedLogs{lines: want})
	stream, err := client.Replay(harness.Context(t), &logpb.ReplayRequest{})
	harness.RequireOK(t, err, "opening Replay")

	got, errs := rangeAll(t, stream)

	for _, err := range errs {
		assertNoError(t, err, "an error All yielded on a stream that ends with OK")
	}
	assertLines(t, want, got, "range over All(stream)")
}

// Ranging over All on a stream that fails after 2 lines: the 2 lines, then
// the stream's error, yielded once, last.
func TestServerStream_All_Failure_YieldsErrorLast(t *testing.T) {
	want := numbered("compiling", "linking")
	failure := status.Error(codes.Aborted, "build cancelled")
	client, _ := startScripted(t, &scriptedLogs{lines: want, end: failure})
	stream, err := client.Replay(harness.Context(t), &logpb.ReplayRequest{})
	harness.RequireOK(t, err, "opening Replay")

	got, errs := rangeAll(t, stream)

	if assert.Len(t, errs, 1, "errors All yielded on a stream that fails: exactly one, the stream's status") {
		assertStreamError(t, failure, errs[0], "the error All yielded for a stream that failed with Aborted", "Recv")
	}
	assertLines(t, want, got, "range over All(stream): the lines before the failure")
}

// TestServerStream_All_Break_StopsAtOnce calls the iterator the way a range
// loop with a break does: yield returns false, and the iterator must not call
// it again (a range loop would panic).
func TestServerStream_All_Break_StopsAtOnce(t *testing.T) {
	client, _ := startScripted(t, &scriptedLogs{lines: numbered("compiling", "linking", "done")})
	stream, err := client.Replay(harness.Context(t), &logpb.ReplayRequest{})
	harness.RequireOK(t, err, "opening Replay")

	var calls int
	var first *logpb.LogLine
	var firstErr error
	harness.Call(t, "All(stream)(yield), with a yield that returns false", func() {
		serverstream.All(stream)(func(line *logpb.LogLine, err error) bool {
			calls++
			if calls == 1 {
				first, firstErr = line, err
			}
			return false // the loop body said break
		})
	})

	assert.Equal(t, 1, calls, "calls to yield: once yield returns false, All must return at once")
	assertNoError(t, firstErr, "the first thing All yielded")
	assert.Equal(t, "compiling", first.GetText(), "the text of the first line All yielded")
}
