package serverstream_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/internal/harness"
	serverstream "github.com/grpc-workbook/streaming/lessons/02-server-stream"
	"github.com/grpc-workbook/streaming/lessons/02-server-stream/logpb"
)

// maxYields bounds the test's loops, so an iterator that never stops fails
// the test instead of hanging it.
const maxYields = 100

func TestServerStream_All_RangesOverEveryLine(t *testing.T) {
	harness.See(t, task6)
	want := numbered("compiling", "linking", "done")
	client, _ := startScripted(t, &scriptedLogs{lines: want})
	stream, err := client.Replay(harness.Context(t), &logpb.ReplayRequest{})
	harness.RequireOK(t, err, "opening Replay", task6)

	var got []*logpb.LogLine
	for line, err := range serverstream.All(stream) {
		harness.RequireOK(t, err, "range over All(stream), a stream of 3 lines that ends with OK", task6)
		got = append(got, line)
		require.Less(t, len(got), maxYields, "All kept yielding past the end of the stream; see README.md, %q", task6)
	}
	if diff := linesDiff(want, got); diff != "" {
		t.Errorf("range over All(stream): %s; see README.md, %q", diff, task6)
	}
}

func TestServerStream_All_Failure_YieldsErrorLast(t *testing.T) {
	harness.See(t, task6)
	want := numbered("compiling", "linking")
	client, _ := startScripted(t, &scriptedLogs{lines: want, end: status.Error(codes.Aborted, "build cancelled")})
	stream, err := client.Replay(harness.Context(t), &logpb.ReplayRequest{})
	harness.RequireOK(t, err, "opening Replay", task6)

	var got []*logpb.LogLine
	var errs []error
	for line, err := range serverstream.All(stream) {
		if err != nil {
			errs = append(errs, err)
		} else {
			got = append(got, line)
		}
		require.Less(t, len(got)+len(errs), maxYields, "All kept yielding after the stream failed: stop after yielding the error; see README.md, %q", task6)
	}
	require.Len(t, errs, 1, "range over All(stream) on a stream that fails: got %d errors %v, want exactly one, the stream's status; see README.md, %q", len(errs), errs, task6)
	assertStreamError(t, errs[0], codes.Aborted, "the error All yielded for a stream that failed with Aborted", task6)
	if diff := linesDiff(want, got); diff != "" {
		t.Errorf("range over All(stream): the lines before the failure: %s; see README.md, %q", diff, task6)
	}
}

// TestServerStream_All_Break_StopsAtOnce calls the iterator the way a range
// loop with a break does: yield returns false, and the iterator must not call
// it again (a range loop would panic).
func TestServerStream_All_Break_StopsAtOnce(t *testing.T) {
	harness.See(t, task6)
	client, _ := startScripted(t, &scriptedLogs{lines: numbered("compiling", "linking", "done")})
	stream, err := client.Replay(harness.Context(t), &logpb.ReplayRequest{})
	harness.RequireOK(t, err, "opening Replay", task6)

	var calls int
	var first *logpb.LogLine
	serverstream.All(stream)(func(line *logpb.LogLine, err error) bool {
		calls++
		if calls == 1 {
			harness.AssertCode(t, err, codes.OK, "the first thing All yielded", task6)
			first = line
		}
		return false // the loop body said break
	})
	assert.Equal(t, 1, calls, "All called yield %d times, want 1: once yield returns false, All must return at once; see README.md, %q", calls, task6)
	assert.Equal(t, "compiling", first.GetText(), "All's first yield: got (left) the text, want (right); see README.md, %q", task6)
}
