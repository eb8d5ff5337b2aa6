package serverstream_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/internal/harness"
	serverstream "github.com/grpc-workbook/streaming/lessons/02-server-stream"
	"github.com/grpc-workbook/streaming/lessons/02-server-stream/logpb"
)

// TestServerStream_Send_ReturnsBeforeClientReads shows what Send's return
// means: the message was handed to gRPC, not read by the client. Replay
// finishes while the client has read nothing; the lines still all arrive.
func TestServerStream_Send_ReturnsBeforeClientReads(t *testing.T) {
	harness.See(t, task8)
	client, srv, _ := startLogs(t)

	stream, err := client.Replay(harness.Context(t), &logpb.ReplayRequest{Log: "build.log"})
	harness.RequireOK(t, err, `opening Replay(log="build.log")`, task8)
	handler := srv.HandlerReturned(t, "Replay") // the client has not called Recv yet
	harness.RequireOK(t, handler.Err, `the Replay handler, before the client read anything`, task8)

	got, end := recvUntilError(stream)
	if !isEOF(end) {
		harness.RequireOK(t, end, `Replay(log="build.log"), read after the handler returned`, task8)
	}
	if diff := linesDiff(numbered("compiling", "linking", "done"), got); diff != "" {
		t.Errorf("lines read after the handler returned: %s; see README.md, %q", diff, task8)
	}
}

// TestServerStream_Firehose_ClientStopsReading_ProducerStops reads one line
// of 32 KiB and then stops reading, so the client's flow-control window fills
// and the handler's Send blocks. Then the client cancels: the handler must
// return, not keep producing.
func TestServerStream_Firehose_ClientStopsReading_ProducerStops(t *testing.T) {
	harness.See(t, task8)
	client, srv, _ := startLogs(t)
	const size = 32 << 10

	failsafe := harness.Context(t)
	ctx, cancel := context.WithCancel(failsafe)
	defer cancel()
	stream, err := client.Firehose(ctx, &logpb.FirehoseRequest{LineBytes: size})
	harness.RequireOK(t, err, "opening Firehose(line_bytes=32768)", task8)
	first, err := stream.Recv()
	harness.RequireOK(t, err, "Firehose(line_bytes=32768), first line", task8)
	assert.Equal(t, int64(1), first.GetNumber(), "Firehose's first line number; see README.md, %q", task8)
	assert.Len(t, first.GetText(), size, "Firehose's first line should be line_bytes long; see README.md, %q", task8)

	cancel() // the client reads nothing more, and leaves

	handler := srv.HandlerReturnedPromptly(t, "Firehose")
	harness.RequireBeforeFailSafe(t, failsafe, "Firehose returned", "return the error Send returns, and stop when stream.Context() ends", task8)
	code := status.Code(handler.Err)
	assert.Contains(t, []codes.Code{codes.Canceled, codes.Unavailable}, code,
		"Firehose handler after the client cancelled: got %s, want codes.Canceled (from the context) or the error Send returned; see README.md, %q",
		handler.Err, task8)

	for {
		if _, err := stream.Recv(); err != nil {
			harness.AssertCode(t, err, codes.Canceled, "Firehose, client side, after cancel()", task8)
			break
		}
	}
}

func TestServerStream_Firehose_LineBytesOutOfRange_InvalidArgument(t *testing.T) {
	harness.See(t, task8)
	client, _, _ := startLogs(t)
	for _, size := range []int32{0, -1, serverstream.MaxLineBytes + 1} {
		t.Run(fmt.Sprintf("line_bytes=%d", size), func(t *testing.T) {
			stream, err := client.Firehose(harness.Context(t), &logpb.FirehoseRequest{LineBytes: size})
			harness.RequireOK(t, err, "opening Firehose", task8)
			_, err = stream.Recv()
			harness.RequireCode(t, err, codes.InvalidArgument, fmt.Sprintf("Firehose(line_bytes=%d), first Recv", size), task8)
			assert.Contains(t, statusMessage(err), "line_bytes", "the message should name the bad field; see README.md, %q", task8)
		})
	}
}
