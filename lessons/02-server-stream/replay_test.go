package serverstream_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/grpc-workbook/streaming/internal/harness"
	"github.com/grpc-workbook/streaming/lessons/02-server-stream/logpb"
)

func TestServerStream_Replay_SendsEveryLineThenEOF(t *testing.T) {
	harness.See(t, task1)
	client, _, _ := startLogs(t)

	stream, err := client.Replay(harness.Context(t), &logpb.ReplayRequest{Log: "build.log"})
	harness.RequireOK(t, err, `opening Replay(log="build.log")`, task1)
	got, end := recvUntilError(stream)

	if !isEOF(end) {
		harness.RequireOK(t, end, `Replay(log="build.log"), the error that ended the stream`, task1)
	}
	if diff := linesDiff(numbered("compiling", "linking", "done"), got); diff != "" {
		t.Errorf(`Replay(log="build.log"): %s; see README.md, %q`, diff, task1)
	}
}

func TestServerStream_Replay_EmptyLog_EndsAtOnce(t *testing.T) {
	harness.See(t, task1)
	client, _, _ := startLogs(t)

	stream, err := client.Replay(harness.Context(t), &logpb.ReplayRequest{Log: "empty.log"})
	harness.RequireOK(t, err, `opening Replay(log="empty.log")`, task1)
	got, end := recvUntilError(stream)

	if !isEOF(end) {
		harness.RequireOK(t, end, `Replay(log="empty.log"), the error that ended the stream`, task1)
	}
	assert.Empty(t, got, `Replay(log="empty.log"): got lines (%s), want none: an empty log is an empty stream that ends with OK; see README.md, %q`, show(got), task1)
}

func TestServerStream_Replay_UnknownLog_NotFound(t *testing.T) {
	harness.See(t, task1)
	client, _, _ := startLogs(t)

	stream, err := client.Replay(harness.Context(t), &logpb.ReplayRequest{Log: "nosuch.log"})
	harness.RequireOK(t, err, `opening Replay(log="nosuch.log")`, task1)
	got, end := recvUntilError(stream)

	require.Empty(t, got, `Replay(log="nosuch.log") sent lines (%s) for a log that does not exist; see README.md, %q`, show(got), task1)
	harness.RequireCode(t, end, codes.NotFound, `Replay(log="nosuch.log")`, task1)
	assert.Contains(t, statusMessage(end), "nosuch.log", "the message should name the log that was not found; see README.md, %q", task1)
}

// TestServerStream_Replay_BadLine_EarlierLinesArriveFirst replays a log whose
// third line is not UTF-8: lines 1 and 2 arrive, then the status.
func TestServerStream_Replay_BadLine_EarlierLinesArriveFirst(t *testing.T) {
	harness.See(t, task3)
	client, _, _ := startLogs(t)

	stream, err := client.Replay(harness.Context(t), &logpb.ReplayRequest{Log: "disk.log"})
	harness.RequireOK(t, err, `opening Replay(log="disk.log")`, task3)
	got, end := recvUntilError(stream)

	harness.AssertCode(t, end, codes.DataLoss, `Replay(log="disk.log"), whose line 3 is not UTF-8`, task3)
	assert.Contains(t, statusMessage(end), "line 3", "the message should say which line is bad; see README.md, %q", task3)
	if diff := linesDiff(numbered("mounted /", "mounted /home"), got); diff != "" {
		t.Errorf(`Replay(log="disk.log"): the lines before the bad one should arrive before the error: %s; see README.md, %q`, diff, task3)
	}
}
