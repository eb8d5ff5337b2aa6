package serverstream_test

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/internal/harness"
	serverstream "github.com/grpc-workbook/streaming/lessons/02-server-stream"
	"github.com/grpc-workbook/streaming/lessons/02-server-stream/logpb"
)

// ReadAll on a stream of 3 lines that ends with OK: the 3 lines and a nil
// error (io.EOF is how Recv says OK; it is not a failure).
func TestServerStream_ReadAll_EOFIsSuccess(t *testing.T) {
	want := numbered("compiling", "linking", "done")
	client, _ := startScripted(t, &scriptedLogs{lines: want})

	stream, err := client.Replay(harness.Context(t), &logpb.ReplayRequest{})
	harness.RequireOK(t, err, "opening Replay")
	var got []*logpb.LogLine
	harness.Call(t, "ReadAll(stream)", func() { got, err = serverstream.ReadAll(stream) })

	assertNoError(t, err, "ReadAll on a stream of 3 lines that ends with OK")
	assertLines(t, want, got, "ReadAll on a stream of 3 lines")
}

// ReadAll on a stream of 2 lines that then fails with Aborted: the 2 lines,
// and the stream's own error as Recv returned it.
func TestServerStream_ReadAll_Failure_KeepsEarlierLines(t *testing.T) {
	want := numbered("compiling", "linking")
	failure := status.Error(codes.Aborted, "build cancelled")
	client, _ := startScripted(t, &scriptedLogs{lines: want, end: failure})

	stream, err := client.Replay(harness.Context(t), &logpb.ReplayRequest{})
	harness.RequireOK(t, err, "opening Replay")
	var got []*logpb.LogLine
	harness.Call(t, "ReadAll(stream)", func() { got, err = serverstream.ReadAll(stream) })

	assertStreamError(t, failure, err, "ReadAll on a stream of 2 lines that then fails with Aborted", "Recv")
	assertLines(t, want, got, "ReadAll on a stream that fails: the lines that arrived before the failure")
}
