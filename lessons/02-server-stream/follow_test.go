package serverstream_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/internal/harness"
	serverstream "github.com/grpc-workbook/streaming/lessons/02-server-stream"
	"github.com/grpc-workbook/streaming/lessons/02-server-stream/logpb"
)

// Follow sends each line written to the live log as it comes, numbered from 1.
func TestServerStream_Follow_SendsLiveLines(t *testing.T) {
	logs := startLogs(t)
	stream, _ := openFollow(t, harness.Context(t), logs.client)
	results := receiveInBackground(stream)

	var got []*logpb.LogLine
	for _, text := range []string{"GET /", "GET /favicon.ico"} {
		writeLive(t, logs.live, text, results)
		got = append(got, nextLine(t, results, "Follow to send the line just written to the live log"))
	}
	assertLines(t, numbered("GET /", "GET /favicon.ico"), got, "Follow")
}

// When the live log is closed, the log is over: Follow returns nil, and the
// client's Recv sees io.EOF after the lines written before.
func TestServerStream_Follow_LiveLogCloses_EndsWithOK(t *testing.T) {
	logs := startLogs(t)
	stream, _ := openFollow(t, harness.Context(t), logs.client)
	results := receiveInBackground(stream)

	writeLive(t, logs.live, "GET /", results)
	nextLine(t, results, "Follow to send the line just written to the live log")
	logs.endLive() // close(s.live): the live log is over

	r := harness.Wait(t, results, "Follow to end its stream after the live log was closed")
	if r.err == nil {
		t.Fatalf("after the live log (s.live) was closed, Follow sent line %s: a receive from a closed channel gives the zero value at once; "+
			"use text, ok := <-s.live and return nil when ok is false", show([]*logpb.LogLine{r.line}))
	}
	requireEOF(t, r.err, "Follow, after the live log was closed")
	handler := logs.srv.HandlerReturned(t, "Follow")
	harness.AssertCode(t, handler.Err, codes.OK, "what your Follow returned after the live log was closed")
}

// TestServerStream_Follow_ClientCancels_ServerStops cancels a Follow call
// while the live log is quiet. The client drains Recv to its first error and
// sees Canceled; the handler, waiting for a line that will not come, must
// notice through its context and return Canceled.
func TestServerStream_Follow_ClientCancels_ServerStops(t *testing.T) {
	logs := startLogs(t)
	stream, cancel := openFollow(t, harness.Context(t), logs.client)
	results := receiveInBackground(stream)

	writeLive(t, logs.live, "GET /", results)
	nextLine(t, results, "Follow to send the line just written to the live log")
	cancel() // the live log is quiet now: the handler is waiting for a line

	// Drain: Recv until the first error. Lines already on their way may come
	// first; the stream's end comes last.
	var end error
	for r := range results {
		end = r.err
	}
	harness.AssertCode(t, end, codes.Canceled, "Follow, client side, after cancel()")

	handler := logs.srv.HandlerReturned(t, "Follow")
	assertHandlerCode(t, handler.Err, codes.Canceled, "what your Follow returned after the client cancelled")
}

// A call whose deadline has passed: Follow returns DeadlineExceeded, the code
// status.FromContextError gives for that context, not a Canceled of its own.
// The test calls your Follow directly, on a fake stream whose context is
// past its deadline.
func TestServerStream_Follow_DeadlinePassed_DeadlineExceeded(t *testing.T) {
	stream := newFakeStream(t, 0, nil, 0)
	var stop context.CancelFunc
	stream.ctx, stop = context.WithDeadline(stream.ctx, time.Now().Add(-time.Second))
	defer stop()
	server := serverstream.NewServer(storedLogs, make(chan string)) // a quiet live log

	var err error
	call := "Follow on a stream whose deadline has passed"
	harness.Call(t, call, func() { err = server.Follow(&logpb.FollowRequest{}, stream) })

	if !assertHandlerCode(t, err, codes.DeadlineExceeded, call) {
		return
	}
	assert.Zero(t, stream.sendCalls(), "Send calls by Follow, with nothing written to the live log")
}

// A Send that fails ends Follow with Send's error, at once: it takes no more
// lines from the live log. The test calls your Follow directly, on a fake
// stream whose first Send fails, and offers it a second line.
func TestServerStream_Follow_SendFails_ReturnsItsError(t *testing.T) {
	broken := status.Error(codes.Unavailable, "the client has gone")
	stream := newFakeStream(t, 1, broken, 0)
	live := make(chan string)
	server := serverstream.NewServer(storedLogs, live)
	go func() { // the live log goes on: a Follow that ignored the failure takes the next line
		for _, text := range []string{"GET /", "GET /about"} {
			select {
			case live <- text:
			case <-t.Context().Done():
				return
			}
		}
	}()

	var err error
	call := "Follow on a stream whose first Send fails"
	harness.Call(t, call, func() { err = server.Follow(&logpb.FollowRequest{}, stream) })

	if !assertStreamError(t, broken, err, call, "Send") {
		return
	}
	assert.Equal(t, 1, stream.sendCalls(), "Send calls by Follow: stop at the Send that failed")
}

// FollowN(ctx, client, 3) on a Follow that never ends: the first 3 lines, no
// error, and the server's handler stops (with Canceled) because FollowN
// cancelled the call when it returned.
func TestServerStream_FollowN_CancelsTheStream(t *testing.T) {
	client, srv := startScripted(t, &scriptedLogs{}) // live is nil: Follow sends lines without end

	var got []*logpb.LogLine
	var err error
	call := "FollowN(ctx, client, 3) on a Follow that never ends"
	harness.Call(t, call, func() { got, err = serverstream.FollowN(harness.Context(t), client, 3) })
	if !assertNoError(t, err, call) {
		return
	}
	assertLines(t, numbered("tick", "tick", "tick"), got, call)

	handler := srv.HandlerReturned(t, "Follow")
	harness.AssertCode(t, handler.Err, codes.Canceled,
		"the server's Follow after FollowN returned (FollowN must cancel the call's context, or the stream lives on)")
}

// FollowN(ctx, client, 3) on a live log that ends with OK after 2 lines: the
// 2 lines and io.ErrUnexpectedEOF, as io.ReadFull reports a short read.
func TestServerStream_FollowN_LogEndsEarly_UnexpectedEOF(t *testing.T) {
	want := numbered("GET /", "GET /about")
	client, _ := startScripted(t, &scriptedLogs{live: closedLive(want...)})

	var got []*logpb.LogLine
	var err error
	call := "FollowN(ctx, client, 3) on a live log that ends with OK after 2 lines"
	harness.Call(t, call, func() { got, err = serverstream.FollowN(harness.Context(t), client, 3) })

	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("%s: got %s, want io.ErrUnexpectedEOF: the stream ended with OK (io.EOF), but before the n lines FollowN promised", call, describeErr(err))
	}
	assertLines(t, want, got, call)
}

// FollowN(ctx, client, 3) on a stream that fails with Aborted after 1 line:
// that line, and the stream's error as Recv returned it.
func TestServerStream_FollowN_StreamFails_ReturnsLinesAndStatus(t *testing.T) {
	want := numbered("GET /")
	failure := status.Error(codes.Aborted, "log rotated")
	client, _ := startScripted(t, &scriptedLogs{live: closedLive(want...), end: failure})

	var got []*logpb.LogLine
	var err error
	call := "FollowN(ctx, client, 3) on a stream that fails with Aborted after 1 line"
	harness.Call(t, call, func() { got, err = serverstream.FollowN(harness.Context(t), client, 3) })

	assertStreamError(t, failure, err, call, "Recv")
	assertLines(t, want, got, call)
}

// The caller cancels ctx while FollowN waits for a line: FollowN returns at
// once, with the stream's Canceled. The call must be opened with a context
// made from ctx, never from context.Background().
func TestServerStream_FollowN_CallerCancels_ReturnsCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(harness.Context(t))
	defer cancel()
	// A quiet live log; the server cancels the caller's ctx as soon as Follow starts.
	client, _ := startScripted(t, &scriptedLogs{live: make(chan *logpb.LogLine), onFollow: cancel})

	var got []*logpb.LogLine
	var err error
	call := "FollowN(ctx, client, 3), with ctx cancelled while it waits"
	harness.Call(t, call, func() { got, err = serverstream.FollowN(ctx, client, 3) })

	if status.Code(err) != codes.Canceled {
		t.Errorf("%s: got %s, want codes.Canceled, what Recv returns once the caller's ctx is cancelled", call, describeErr(err))
	}
	assert.Empty(t, got, "%s: lines returned, with none sent", call)
}
