package serverstream_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/grpc-workbook/streaming/internal/harness"
	serverstream "github.com/grpc-workbook/streaming/lessons/02-server-stream"
	"github.com/grpc-workbook/streaming/lessons/02-server-stream/logpb"
)

// readerBench is a Reader over a Follow stream of the scripted server, whose
// lines the test writes to live; closing live ends the stream with end.
type readerBench struct {
	reader *serverstream.Reader[logpb.LogLine]
	clock  *harness.FakeClock
	live   chan *logpb.LogLine
	srv    *harness.Server
	recv   *harness.ObservedRecv[logpb.LogLine] // the stream, as the Reader sees it
	// failsafe is the stream's fail-safe context: it has ended only if the
	// test ran into the fail-safe deadline.
	failsafe context.Context
}

func newReaderBench(t *testing.T, end error) *readerBench {
	t.Helper()
	live := make(chan *logpb.LogLine)
	client, srv := startScripted(t, &scriptedLogs{live: live, end: end})
	failsafe := harness.Context(t)
	ctx, cancel := context.WithCancel(failsafe)
	t.Cleanup(cancel)
	stream, err := client.Follow(ctx, &logpb.FollowRequest{})
	harness.RequireOK(t, err, "opening Follow", task7)

	clock := harness.NewFakeClock()
	recv := harness.ObserveRecv[logpb.LogLine](stream)
	reader := serverstream.NewReader(recv, cancel, clock.After)
	require.NotNil(t, reader, "NewReader returned nil; see README.md, %q", task7)
	t.Cleanup(reader.Close)
	return &readerBench{reader: reader, clock: clock, live: live, srv: srv, recv: recv, failsafe: failsafe}
}

// write sends a line down the stream.
func (b *readerBench) write(t *testing.T, line *logpb.LogLine) {
	t.Helper()
	select {
	case b.live <- line:
	case <-harness.Context(t).Done():
		t.Fatalf("the test's server never took line %d to send it: is the stream still open?", line.GetNumber())
	}
}

// readResult is what one Read returned.
type readResult struct {
	line *logpb.LogLine
	err  error
}

// readInBackground calls Read on its own goroutine.
func (b *readerBench) readInBackground(timeout time.Duration) <-chan readResult {
	out := make(chan readResult, 1)
	go func() {
		line, err := b.reader.Read(timeout)
		out <- readResult{line, err}
	}()
	return out
}

// read calls Read(time.Second) for a message that is on its way or an end
// that has been reached, so no timer needs to fire.
func (b *readerBench) read(t *testing.T) readResult {
	t.Helper()
	return harness.Wait(t, b.readInBackground(time.Second), "Read(1s) to return what is waiting on the stream")
}

// readUntilTimeout calls Read(timeout) with nothing on its way, fires the
// timer Read starts, and returns what Read returned.
func (b *readerBench) readUntilTimeout(t *testing.T, timeout time.Duration) readResult {
	t.Helper()
	result := b.readInBackground(timeout)
	index, d, early, started := harness.WaitForTimerOr(t, b.clock, result, "Read to return")
	if !started {
		harness.RequireOK(t, early.err, "Read with nothing on the stream, before any timer", task7)
		t.Fatalf("Read returned line %d before the test sent anything; see README.md, %q", early.line.GetNumber(), task7)
	}
	assert.Equal(t, timeout, d, "Read(%v) started a timer of %v: pass the timeout to after; see README.md, %q", timeout, d, task7)
	b.clock.Fire(index)
	return harness.Wait(t, result, "Read to return after its timer fired")
}

func requireLine(t *testing.T, want *logpb.LogLine, got readResult, what string) {
	t.Helper()
	harness.RequireOK(t, got.err, what, task7)
	if !proto.Equal(want, got.line) {
		t.Fatalf("%s: got line %s, want %s; see README.md, %q", what, show([]*logpb.LogLine{got.line}), show([]*logpb.LogLine{want}), task7)
	}
}

func TestServerStream_Reader_Read_ReturnsNextLine(t *testing.T) {
	harness.See(t, task7)
	b := newReaderBench(t, nil)
	line := &logpb.LogLine{Number: 1, Text: "GET /"}

	b.write(t, line)
	requireLine(t, line, b.read(t), "Read(1s) with a line on its way")
}

// TestServerStream_Reader_Timeout_StreamStaysUsable times a Read out, then
// sends two lines: both must come out, in order. A Reader that starts a new
// Recv for each Read loses the line the timed-out Read's Recv got.
func TestServerStream_Reader_Timeout_StreamStaysUsable(t *testing.T) {
	harness.See(t, task7)
	b := newReaderBench(t, nil)

	got := b.readUntilTimeout(t, 3*time.Second)
	require.True(t, errors.Is(got.err, serverstream.ErrReadTimeout),
		"Read(3s) after its timer fired: got %v, want ErrReadTimeout; see README.md, %q", got.err, task7)

	// The timed-out Read left a Recv waiting. Let it take the next line, and
	// only then Read again: a single goroutine that owns Recv hands the line
	// on, while a goroutine started per Read has kept it for a Read that is gone.
	first, second := &logpb.LogLine{Number: 1, Text: "GET /"}, &logpb.LogLine{Number: 2, Text: "GET /about"}
	b.write(t, first)
	b.recv.WaitReceived(t, "the Reader's Recv to receive line 1")
	got = harness.WaitPromptly(t, b.readInBackground(time.Second),
		"Read to return line 1, which the stream had already received (did a goroutine left over from the timed-out Read keep it?)")
	requireLine(t, first, got, "the first Read after a timeout")
	b.write(t, second)
	requireLine(t, second, b.read(t), "the second Read after a timeout")
}

func TestServerStream_Reader_EndOfStream_EOFEveryTime(t *testing.T) {
	harness.See(t, task7)
	b := newReaderBench(t, nil)
	line := &logpb.LogLine{Number: 1, Text: "GET /"}
	b.write(t, line)
	close(b.live) // the test's server returns nil: the stream ends with OK

	requireLine(t, line, b.read(t), "Read(1s) with a line on its way")
	for i := range 2 {
		got := b.read(t)
		assert.True(t, isEOF(got.err), "Read number %d after the stream ended: got %v, want io.EOF; see README.md, %q", i+1, got.err, task7)
	}
}

func TestServerStream_Reader_FailedStream_StatusEveryTime(t *testing.T) {
	harness.See(t, task7)
	b := newReaderBench(t, status.Error(codes.Unavailable, "log server restarting"))
	close(b.live) // the test's server returns the Unavailable status

	for i := range 2 {
		got := b.read(t)
		assertStreamError(t, got.err, codes.Unavailable, fmt.Sprintf("Read number %d after the stream failed", i+1), task7)
	}
}

// TestServerStream_Reader_Close_EndsStreamAndGoroutine is a caller giving
// up: one Read times out, then Close. Close must end the stream (the server's
// handler sees Canceled) and return only once its goroutine has ended.
func TestServerStream_Reader_Close_EndsStreamAndGoroutine(t *testing.T) {
	harness.See(t, task7)
	b := newReaderBench(t, nil)

	got := b.readUntilTimeout(t, time.Second)
	require.True(t, errors.Is(got.err, serverstream.ErrReadTimeout),
		"Read(1s) after its timer fired: got %v, want ErrReadTimeout; see README.md, %q", got.err, task7)

	closed := make(chan struct{})
	go func() {
		b.reader.Close()
		close(closed)
	}()
	// A Close that cancels returns in milliseconds. One that does not returns
	// only when the fail-safe ends the stream, so wait well short of that.
	harness.WaitPromptly(t, closed, "Close to return: it must cancel the stream itself, so that the goroutine blocked in Recv can end")
	handler := b.srv.HandlerReturned(t, "Follow")
	harness.AssertCode(t, handler.Err, codes.Canceled, "the server's Follow after Reader.Close", task7)

	got = b.read(t)
	assert.True(t, errors.Is(got.err, serverstream.ErrReaderClosed),
		"Read after Close: got %v, want ErrReaderClosed; see README.md, %q", got.err, task7)
}
