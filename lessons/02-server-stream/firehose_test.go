package serverstream_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/internal/harness"
	serverstream "github.com/grpc-workbook/streaming/lessons/02-server-stream"
	"github.com/grpc-workbook/streaming/lessons/02-server-stream/logpb"
)

// TestServerStream_Firehose_SendReturnsBeforeClientReads shows what Send's
// return means: the message was handed to gRPC, not read by the client. Your
// Firehose's Send returns 10 times while the client has called Recv not once;
// then the client reads those 10 lines, numbered from 1, 1024 bytes each.
func TestServerStream_Firehose_SendReturnsBeforeClientReads(t *testing.T) {
	counted := countSends{serverstream.NewServer(storedLogs, nil), make(chan int64, 1<<12), make(chan error, 1)}
	srv := harness.Start(t, func(s *grpc.Server) { logpb.RegisterLogServiceServer(s, counted) })
	ctx, cancel := context.WithCancel(harness.Context(t))
	defer cancel()
	stream, err := logpb.NewLogServiceClient(srv.Conn).Firehose(ctx, &logpb.FirehoseRequest{LineBytes: 1024})
	harness.RequireOK(t, err, "opening Firehose(line_bytes=1024)")

	for i := 1; i <= 10; i++ { // the client has not called Recv yet
		select {
		case <-counted.returned:
		case err := <-counted.ended:
			harness.RequireOK(t, err, fmt.Sprintf("your Firehose, which returned after %d lines", i-1))
			t.Fatalf("your Firehose returned nil after %d lines: it sends until the client leaves", i-1)
		case <-harness.Timeout():
			harness.Blocked(t, fmt.Sprintf("Firehose's Send of line %d to return, before the client reads anything", i))
		}
	}

	want := make([]*logpb.LogLine, 10)
	got := make([]*logpb.LogLine, 10)
	for i := range got {
		want[i] = &logpb.LogLine{Number: int64(i + 1), Text: strings.Repeat("x", 1024)}
		got[i], err = stream.Recv()
		harness.RequireOK(t, err, fmt.Sprintf("Firehose(line_bytes=1024), Recv of line %d", i+1))
		require.Len(t, got[i].GetText(), 1024, "the length of Firehose's line %d, with line_bytes=1024", i+1)
	}
	assertLines(t, want, got, "the lines read after their Sends had returned")
	cancel()
	srv.HandlerReturned(t, "Firehose")
}

// line_bytes of exactly 1 and exactly MaxLineBytes are accepted: the first
// line has that many bytes.
func TestServerStream_Firehose_LineBytesAtLimits_Accepted(t *testing.T) {
	for _, size := range []int32{1, serverstream.MaxLineBytes} {
		t.Run(fmt.Sprintf("line_bytes=%d", size), func(t *testing.T) {
			logs := startLogs(t)
			ctx, cancel := context.WithCancel(harness.Context(t))
			defer cancel()
			stream, err := logs.client.Firehose(ctx, &logpb.FirehoseRequest{LineBytes: size})
			harness.RequireOK(t, err, fmt.Sprintf("opening Firehose(line_bytes=%d)", size))

			first, err := stream.Recv()
			harness.RequireOK(t, err, fmt.Sprintf("Firehose(line_bytes=%d), the first line (the limits themselves are allowed)", size))
			assert.Equal(t, int64(1), first.GetNumber(), "the number of Firehose's first line")
			assert.Len(t, first.GetText(), int(size), "the length of Firehose's first line, with line_bytes=%d", size)
			cancel()
			logs.srv.HandlerReturned(t, "Firehose")
		})
	}
}

// line_bytes below 1 or above MaxLineBytes: InvalidArgument naming the field.
func TestServerStream_Firehose_LineBytesOutOfRange_InvalidArgument(t *testing.T) {
	for _, size := range []int32{0, -1, serverstream.MaxLineBytes + 1} {
		t.Run(fmt.Sprintf("line_bytes=%d", size), func(t *testing.T) {
			logs := startLogs(t)
			stream, err := logs.client.Firehose(harness.Context(t), &logpb.FirehoseRequest{LineBytes: size})
			harness.RequireOK(t, err, "opening Firehose")
			_, err = stream.Recv()
			harness.RequireCode(t, err, codes.InvalidArgument, fmt.Sprintf("Firehose(line_bytes=%d), first Recv", size))
			assert.Contains(t, statusMessage(err), "line_bytes", "the InvalidArgument message should name the bad field")
		})
	}
}

// TestServerStream_Firehose_ClientStopsReading_ProducerStops reads one line
// of 32 KiB and then stops reading, so the client's flow-control window fills
// and the handler's Send blocks. Then the client cancels: the handler must
// return, not keep producing.
func TestServerStream_Firehose_ClientStopsReading_ProducerStops(t *testing.T) {
	logs := startLogs(t)
	const size = 32 << 10

	ctx, cancel := context.WithCancel(harness.Context(t))
	defer cancel()
	stream, err := logs.client.Firehose(ctx, &logpb.FirehoseRequest{LineBytes: size})
	harness.RequireOK(t, err, "opening Firehose(line_bytes=32768)")
	first, err := stream.Recv()
	harness.RequireOK(t, err, "Firehose(line_bytes=32768), first line")
	assert.Equal(t, int64(1), first.GetNumber(), "the number of Firehose's first line")

	cancel() // the client reads nothing more, and leaves

	handler := logs.srv.HandlerReturned(t, "Firehose")
	assert.Contains(t, []codes.Code{codes.Canceled, codes.Unavailable}, status.Code(handler.Err),
		"what your Firehose returned after the client cancelled: got %s, want codes.Canceled (from the context) or the error Send returned",
		harness.Describe(handler.Err))
	_, end := recvUntilError(stream)
	harness.AssertCode(t, end, codes.Canceled, "Firehose, client side, after cancel()")
}

// A Send that fails ends Firehose with Send's error, at once. The test calls
// your Firehose directly, on a fake stream whose second Send fails while the
// stream's context has not ended yet.
func TestServerStream_Firehose_SendFails_ReturnsItsError(t *testing.T) {
	broken := status.Error(codes.Unavailable, "the client has gone")
	stream := newFakeStream(t, 2, broken, 0)
	server := serverstream.NewServer(storedLogs, nil)

	var err error
	call := "Firehose(line_bytes=8) on a stream whose second Send fails"
	harness.Call(t, call, func() { err = server.Firehose(&logpb.FirehoseRequest{LineBytes: 8}, stream) })

	if !assertStreamError(t, broken, err, call, "Send") {
		return
	}
	assert.Equal(t, 2, stream.sendCalls(), "Send calls by Firehose: stop at the Send that failed")
}

// The client leaves while Send 3 is under way, and that Send still succeeds
// (it handed the line to gRPC in time). Firehose must notice the context has
// ended before it sends again: it returns Canceled and makes no Send 4. The
// test calls your Firehose directly, on a fake stream.
func TestServerStream_Firehose_ContextEnds_StopsBeforeNextSend(t *testing.T) {
	stream := newFakeStream(t, 0, nil, 3)
	server := serverstream.NewServer(storedLogs, nil)

	var err error
	call := "Firehose(line_bytes=8) on a stream whose context ends during Send 3"
	harness.Call(t, call, func() { err = server.Firehose(&logpb.FirehoseRequest{LineBytes: 8}, stream) })

	if !assertHandlerCode(t, err, codes.Canceled, call) {
		return
	}
	assert.Equal(t, 3, stream.sendCalls(),
		"Send calls by Firehose: check stream.Context() before each Send, and stop once it has ended")
	assertLines(t, numbered("xxxxxxxx", "xxxxxxxx", "xxxxxxxx"), stream.sentLines(), "the lines Firehose(line_bytes=8) sent")
}
