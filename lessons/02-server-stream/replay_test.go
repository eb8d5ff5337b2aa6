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

// Replay of build.log: its 3 lines, numbered from 1, then the end of the
// stream with OK (io.EOF from Recv).
func TestServerStream_Replay_SendsEveryLineThenEOF(t *testing.T) {
	logs := startLogs(t)

	stream, err := logs.client.Replay(harness.Context(t), &logpb.ReplayRequest{Log: "build.log"})
	harness.RequireOK(t, err, `opening Replay(log="build.log")`)
	got, end := recvUntilError(stream)

	requireEOF(t, end, `Replay(log="build.log"), the error that ended the stream`)
	assertLines(t, numbered("compiling", "linking", "done"), got, `Replay(log="build.log")`)
}

// Replay of a log with no lines: no line, and at once the end with OK.
func TestServerStream_Replay_EmptyLog_EndsAtOnce(t *testing.T) {
	logs := startLogs(t)

	stream, err := logs.client.Replay(harness.Context(t), &logpb.ReplayRequest{Log: "empty.log"})
	harness.RequireOK(t, err, `opening Replay(log="empty.log")`)
	got, end := recvUntilError(stream)

	requireEOF(t, end, `Replay(log="empty.log"), the error that ended the stream`)
	assert.Empty(t, got, `Replay(log="empty.log") sent lines %s: an empty log is an empty stream that ends with OK`, show(got))
}

// Replay of a log that does not exist: NotFound naming it, and no line.
func TestServerStream_Replay_UnknownLog_NotFound(t *testing.T) {
	logs := startLogs(t)

	stream, err := logs.client.Replay(harness.Context(t), &logpb.ReplayRequest{Log: "nosuch.log"})
	harness.RequireOK(t, err, `opening Replay(log="nosuch.log")`)
	got, end := recvUntilError(stream)

	require.Empty(t, got, `Replay(log="nosuch.log") sent lines %s for a log that does not exist`, show(got))
	harness.RequireCode(t, end, codes.NotFound, `Replay(log="nosuch.log")`)
	assert.Contains(t, statusMessage(end), "nosuch.log", "the NotFound message should name the log")
}

// A Send that fails ends Replay with Send's error: no more Sends, and not
// nil. The test calls your Replay directly, on a fake stream whose second
// Send fails the way a real one does when the client has gone.
func TestServerStream_Replay_SendFails_ReturnsItsError(t *testing.T) {
	broken := status.Error(codes.Unavailable, "the client has gone")
	stream := newFakeStream(t, 2, broken, 0)
	server := serverstream.NewServer(storedLogs, nil)

	var err error
	call := `Replay(log="build.log") on a stream whose second Send fails`
	harness.Call(t, call, func() { err = server.Replay(&logpb.ReplayRequest{Log: "build.log"}, stream) })

	if !assertStreamError(t, broken, err, call, "Send") {
		return
	}
	assert.Equal(t, 2, stream.sendCalls(), "Send calls by Replay: stop at the Send that failed")
	assertLines(t, numbered("compiling"), stream.sentLines(), "the lines Replay sent before the Send that failed")
}

// Replay of disk.log, whose line 3 is not UTF-8: lines 1 and 2 arrive, then
// DataLoss naming line 3.
func TestServerStream_Replay_BadLine_EarlierLinesArriveFirst(t *testing.T) {
	logs := startLogs(t)

	stream, err := logs.client.Replay(harness.Context(t), &logpb.ReplayRequest{Log: "disk.log"})
	harness.RequireOK(t, err, `opening Replay(log="disk.log")`)
	got, end := recvUntilError(stream)

	harness.AssertCode(t, end, codes.DataLoss, `Replay(log="disk.log"), whose line 3 is not UTF-8`)
	assert.Contains(t, statusMessage(end), "line 3", "the DataLoss message should say which line is bad (lines count from 1)")
	assert.Contains(t, statusMessage(end), "disk.log", "the DataLoss message should name the log")
	assertLines(t, numbered("mounted /", "mounted /home"), got,
		`Replay(log="disk.log"): the lines before the bad one, which arrive before the error`)
}
