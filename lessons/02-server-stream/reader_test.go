package serverstream_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/internal/harness"
	serverstream "github.com/grpc-workbook/streaming/lessons/02-server-stream"
	"github.com/grpc-workbook/streaming/lessons/02-server-stream/logpb"
)

// Read with a line on its way returns that line.
func TestServerStream_Reader_Read_ReturnsNextLine(t *testing.T) {
	b := newReaderBench(t, nil)
	line := &logpb.LogLine{Number: 1, Text: "GET /"}

	b.write(t, line)
	requireLine(t, line, b.read(t), "Read with a line on its way")
}

// NewReader with a nil after uses time.After: Read works, and no test clock
// is involved.
func TestServerStream_Reader_NilAfter_UsesTimeAfter(t *testing.T) {
	live := make(chan *logpb.LogLine, 1)
	live <- &logpb.LogLine{Number: 1, Text: "GET /"}
	client, _ := startScripted(t, &scriptedLogs{live: live})
	ctx, cancel := context.WithCancel(harness.Context(t))
	defer cancel()
	stream, err := client.Follow(ctx, &logpb.FollowRequest{})
	harness.RequireOK(t, err, "opening Follow")

	var reader *serverstream.Reader[logpb.LogLine]
	harness.Call(t, "NewReader(stream, cancel, nil)", func() { reader = serverstream.NewReader(stream, cancel, nil) })
	require.NotNil(t, reader, "NewReader returned nil: return the *Reader it built")
	defer harness.Call(t, "reader.Close()", reader.Close)
	var got readResult
	harness.Call(t, "reader.Read(time.Minute), from a Reader made with after == nil", func() { got.line, got.err = reader.Read(time.Minute) })

	requireLine(t, &logpb.LogLine{Number: 1, Text: "GET /"}, got, "Read from a Reader made with after == nil (which means time.After)")
}

// TestServerStream_Reader_Timeout_StreamStaysUsable times a Read out, then
// sends two lines: both must come out, in order. A Reader that starts a new
// Recv for each Read loses the line the timed-out Read's Recv got.
func TestServerStream_Reader_Timeout_StreamStaysUsable(t *testing.T) {
	b := newReaderBench(t, nil)

	got := b.readUntilTimeout(t, 3*time.Second)
	require.ErrorIs(t, got.err, serverstream.ErrReadTimeout, "Read(3s) after its timer fired, with nothing on the stream")

	// The timed-out Read left a Recv waiting. Let it take the next line, and
	// only then Read again: a single goroutine that owns Recv hands the line
	// on, while a goroutine started per Read has kept it for a Read that is gone.
	first, second := &logpb.LogLine{Number: 1, Text: "GET /"}, &logpb.LogLine{Number: 2, Text: "GET /about"}
	b.write(t, first)
	b.recv.WaitReceived(t, "the Reader's Recv to receive line 1")
	got = await(t, b.readInBackground(time.Minute),
		"reader.Read(time.Minute) for line 1, which the stream had already received (did a goroutine left over from the timed-out Read keep it?),")
	requireLine(t, first, got, "the first Read after a timeout")
	b.write(t, second)
	requireLine(t, second, b.read(t), "the second Read after a timeout")
}

// After the stream ends with OK, every Read returns io.EOF, and the Reader's
// goroutine calls Recv no more: it has returned.
func TestServerStream_Reader_EndOfStream_EOFEveryTime(t *testing.T) {
	b := newReaderBench(t, nil)
	line := &logpb.LogLine{Number: 1, Text: "GET /"}
	b.write(t, line)
	close(b.live) // the test's server returns nil: the stream ends with OK

	requireLine(t, line, b.read(t), "Read with a line on its way")
	for i := range 2 {
		got := b.read(t)
		assert.ErrorIs(t, got.err, io.EOF, "Read number %d after the stream ended with OK", i+1)
	}
	harness.Call(t, "reader.Close()", b.reader.Close) // Close waits for the goroutine: it has made its last Recv
	assert.Equal(t, int32(2), b.calls.n.Load(), "Recv calls by the Reader on a stream of 1 line: after the first error, its goroutine returns")
}

// After the stream fails, every Read returns the stream's status error.
func TestServerStream_Reader_FailedStream_StatusEveryTime(t *testing.T) {
	failure := status.Error(codes.Unavailable, "log server restarting")
	b := newReaderBench(t, failure)
	close(b.live) // the test's server returns the Unavailable status

	for i := range 2 {
		assertStreamError(t, failure, b.read(t).err, fmt.Sprintf("Read number %d after the stream failed", i+1), "Recv")
	}
}

// TestServerStream_Reader_Close_EndsStreamAndGoroutine is a caller giving up
// while a Read waits. Close returns (it cancels the stream, so the goroutine
// blocked in Recv can end), the waiting Read returns, the server's handler
// sees Canceled, and every Read after it returns ErrReaderClosed. A second
// Close does nothing.
func TestServerStream_Reader_Close_EndsStreamAndGoroutine(t *testing.T) {
	b := newReaderBench(t, nil)
	waiting, _ := b.startRead(t, time.Minute)

	harness.Call(t, "reader.Close(), while a Read waits", b.reader.Close)

	got := await(t, waiting, "the Read that was waiting when Close was called")
	// Close cancels the stream; if the goroutine hands that Canceled to the
	// waiting Read before done is closed, it is what the Read sees.
	if !errors.Is(got.err, serverstream.ErrReaderClosed) && status.Code(got.err) != codes.Canceled {
		t.Errorf("the Read that was waiting when Close was called: got %s, want ErrReaderClosed", describeRead(got))
	}
	handler := b.srv.HandlerReturned(t, "Follow")
	harness.AssertCode(t, handler.Err, codes.Canceled, "the server's Follow after reader.Close()")
	got = b.read(t)
	assert.ErrorIs(t, got.err, serverstream.ErrReaderClosed, "Read after Close")
	harness.Call(t, "reader.Close(), a second time", b.reader.Close)
}

// Close while the Reader's goroutine holds a line nobody has read: Close
// still returns, and so does the goroutine (it is not stuck handing over).
func TestServerStream_Reader_Close_UnreadLine_StillReturns(t *testing.T) {
	b := newReaderBench(t, nil)
	first := &logpb.LogLine{Number: 1, Text: "GET /"}
	b.write(t, first)
	requireLine(t, first, b.read(t), "Read with a line on its way")
	b.recv.WaitReceived(t, "the Reader's Recv to receive line 1")
	b.write(t, &logpb.LogLine{Number: 2, Text: "GET /about"})
	b.recv.WaitReceived(t, "the Reader's Recv to receive line 2") // the goroutine now waits for a Read

	harness.Call(t, "reader.Close(), with a line received that no Read took", b.reader.Close)

	handler := b.srv.HandlerReturned(t, "Follow")
	harness.AssertCode(t, handler.Err, codes.Canceled, "the server's Follow after reader.Close()")
}

// TestServerStream_Reader_Close_WaitsForItsGoroutine calls Close from two
// goroutines at once, on a fake stream whose Recv returns only when the test
// lets it. Close must cancel the stream and then wait: neither call returns
// while the Reader's goroutine is still inside Recv.
func TestServerStream_Reader_Close_WaitsForItsGoroutine(t *testing.T) {
	stream, cancel := newBlockingRecv(t)
	var reader *serverstream.Reader[logpb.LogLine]
	harness.Call(t, "NewReader(stream, cancel, after)", func() {
		reader = serverstream.NewReader(stream, cancel, harness.NewFakeClock().After)
	})
	require.NotNil(t, reader, "NewReader returned nil: return the *Reader it built")
	harness.Wait(t, stream.entered, "the Reader's goroutine to call Recv (NewReader starts it)")

	closes := []<-chan outcome[struct{}]{
		inBackground(func() struct{} { reader.Close(); return struct{}{} }),
		inBackground(func() struct{} { reader.Close(); return struct{}{} }),
	}
	// Wait until both calls are blocked inside Close, failing if either
	// returns first: the goroutine is still in Recv, which has not returned.
	poll := time.NewTicker(time.Millisecond)
	defer poll.Stop()
	for waitingIn(readerClose) < len(closes) {
		select {
		case o := <-closes[0]:
			closeReturnedEarly(t, o)
		case o := <-closes[1]:
			closeReturnedEarly(t, o)
		case <-poll.C:
		case <-harness.Timeout():
			harness.Blocked(t, "both reader.Close() calls to wait for the Reader's goroutine")
		}
	}
	select {
	case <-stream.cancelled:
	default:
		t.Fatal("reader.Close() waits for the Reader's goroutine, but never called cancel: " +
			"that goroutine is in Recv, and only cancelling the stream's context makes Recv return")
	}

	stream.releaseAll() // Recv returns Canceled, as it does once the stream is cancelled
	for i, closed := range closes {
		await(t, closed, fmt.Sprintf("reader.Close() call %d, once Recv had returned,", i+1))
	}
	assert.True(t, stream.returned.Load(), "the Reader's Recv had returned when Close returned")
}
