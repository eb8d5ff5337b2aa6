package bidi_test

import (
	"context"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-workbook/streaming/internal/harness"
	bidi "github.com/grpc-workbook/streaming/lessons/04-bidi"
	"github.com/grpc-workbook/streaming/lessons/04-bidi/bidipb"
)

// recordingStream stands in for a client stream's sending half. Like the
// real one, it is not safe for concurrent use: it keeps its record without a
// lock and without atomics, so under -race two goroutines calling Send (or
// Send and CloseSend) without one waiting for the other are reported as a
// data race, every time, and so is a test reading the record after a Wait
// that did not wait for the loop. Without -race, calls that happen to
// overlap in time are still noted.
type recordingStream struct {
	calls      []string // "send 17", "close"
	closes     int
	busy       bool // a call is running
	overlapped bool // a call started while another was running

	gate   chan struct{} // if set, the first Send waits for it to close
	inSend chan struct{} // if set, closed when the first Send starts
	closed chan struct{} // closed by the first CloseSend, when it returns
	once   sync.Once
	failAt int // the Send call (1-based) that fails with io.EOF; 0 for never
	sends  int
}

func newRecordingStream() *recordingStream {
	return &recordingStream{closed: make(chan struct{})}
}

// gated returns a stream whose first Send blocks, as under flow control,
// until the test calls release; the test's end releases it too.
func gated(t *testing.T) (s *recordingStream, release func()) {
	s = newRecordingStream()
	s.gate, s.inSend = make(chan struct{}), make(chan struct{})
	release = sync.OnceFunc(func() { close(s.gate) })
	t.Cleanup(release)
	return s, release
}

func (s *recordingStream) enter() func() {
	s.overlapped = s.overlapped || s.busy
	s.busy = true
	return func() { s.busy = false }
}

func (s *recordingStream) Send(req *bidipb.CalcRequest) error {
	defer s.enter()()
	s.sends++
	if s.sends == 1 && s.gate != nil {
		close(s.inSend)
		<-s.gate
	}
	if s.sends == s.failAt {
		return io.EOF // what a real Send returns once the server has ended the call
	}
	s.calls = append(s.calls, fmt.Sprintf("send %d", req.GetId()))
	return nil
}

func (s *recordingStream) CloseSend() error {
	exit := s.enter()
	s.closes++
	s.calls = append(s.calls, "close")
	exit()
	s.once.Do(func() { close(s.closed) })
	return nil
}

func TestBidi_Writer_ManyProducers_EachMessageOnce(t *testing.T) {
	stream := newRecordingStream()
	w := bidi.NewWriter[bidipb.CalcRequest](harness.Context(t), stream)

	const producers, each = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, producers*each)
	for p := range producers {
		wg.Go(func() {
			for i := range each {
				if err := w.Write(add(int64(p*1000+i+1), 0, 0)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	written := make(chan struct{})
	go func() { wg.Wait(); close(written) }()
	harness.Wait(t, written, fmt.Sprintf("%d producers' Writes to return", producers))
	close(errs)
	for err := range errs {
		require.NoError(t, err, "Write from one of %d producers at once", producers)
	}
	doneWriting(t, w)
	require.NoError(t, waitWriter(t, w), "Wait after DoneWriting")

	// Wait returned, so the send loop is over and its record is safe to read.
	require.NotEmpty(t, stream.calls, "calls on the stream")
	require.False(t, stream.overlapped,
		"Send or CloseSend ran on two goroutines at once: only the Writer's loop may call them")
	assert.Equal(t, "close", stream.calls[len(stream.calls)-1], "the last call on the stream: CloseSend, after every Send")

	seen := map[string]int{}
	last := map[int]int{} // producer -> last message index seen
	for _, call := range stream.calls[:len(stream.calls)-1] {
		seen[call]++
		var id int
		_, err := fmt.Sscanf(call, "send %d", &id)
		require.NoError(t, err, "unexpected call %q before the last one (CloseSend must come once, at the end)", call)
		p, i := (id-1)/1000, (id-1)%1000
		assert.Greater(t, i+1, last[p], "producer %d's messages were sent out of that producer's order", p)
		last[p] = i + 1
	}
	for p := range producers {
		for i := range each {
			call := fmt.Sprintf("send %d", p*1000+i+1)
			assert.Equal(t, 1, seen[call], "Send calls for %s's message", call)
		}
	}
}

// TestBidi_Writer_DoneWritingDuringSend_ClosesAfterIt calls DoneWriting while
// a Send is blocked (as under flow control). DoneWriting only signals: it
// returns at once, and CloseSend waits for that Send to return, since the two
// may never run at the same time. Then Wait returns only once the loop has
// stopped.
func TestBidi_Writer_DoneWritingDuringSend_ClosesAfterIt(t *testing.T) {
	stream, release := gated(t)
	w := bidi.NewWriter[bidipb.CalcRequest](harness.Context(t), stream)

	require.NoError(t, write(t, w, add(1, 0, 0)), "Write")
	harness.Wait(t, stream.inSend, "the Writer's loop to call Send")

	doneWriting(t, w) // fails here if DoneWriting waits for the blocked Send
	assert.Zero(t, stream.closes,
		"CloseSend ran while a Send was still in progress; leave CloseSend to the send loop")
	release()

	require.NoError(t, waitWriter(t, w), "Wait after DoneWriting")
	// Read without a lock: -race reports it if Wait returned before the loop ended.
	assert.Equal(t, []string{"send 1", "close"}, stream.calls, "calls on the stream, in order, once Wait has returned")
	assert.False(t, stream.overlapped, "calls overlapped on the stream")
	harness.Wait(t, stream.closed, "the Writer's loop to call CloseSend")
}

func TestBidi_Writer_WriteAfterDoneWriting_ErrClosed(t *testing.T) {
	stream := newRecordingStream()
	w := bidi.NewWriter[bidipb.CalcRequest](harness.Context(t), stream)

	require.NoError(t, write(t, w, add(1, 0, 0)), "Write")
	doneWriting(t, w)
	doneWriting(t, w) // a second DoneWriting does nothing
	require.NoError(t, waitWriter(t, w), "Wait after DoneWriting")

	// The loop has stopped too, and still every Write says why: DoneWriting.
	for id := int64(2); id <= 21; id++ {
		require.ErrorIs(t, write(t, w, add(id, 0, 0)), bidi.ErrClosed, "Write after DoneWriting")
	}
	assert.Equal(t, []string{"send 1", "close"}, stream.calls,
		"calls on the stream: a message written after DoneWriting is never sent, and CloseSend comes once")
}

// TestBidi_Writer_NothingWritten_DoneWritingCloses: a stream with no messages
// is valid, and DoneWriting still half-closes it.
func TestBidi_Writer_NothingWritten_DoneWritingCloses(t *testing.T) {
	stream := newRecordingStream()
	w := bidi.NewWriter[bidipb.CalcRequest](harness.Context(t), stream)

	doneWriting(t, w)
	require.NoError(t, waitWriter(t, w), "Wait after DoneWriting with nothing written")
	assert.Equal(t, []string{"close"}, stream.calls, "calls on the stream")
}

// TestBidi_Writer_SendFails_WritesStop makes the second Send fail with
// io.EOF, as a real one does once the server has ended the call. Later Writes
// must report it instead of blocking on a loop that is gone.
func TestBidi_Writer_SendFails_WritesStop(t *testing.T) {
	stream := newRecordingStream()
	stream.failAt = 2
	w := bidi.NewWriter[bidipb.CalcRequest](harness.Context(t), stream)

	require.NoError(t, write(t, w, add(1, 0, 0)), "first Write")
	require.NoError(t, write(t, w, add(2, 0, 0)), "second Write (the loop takes it; its Send then fails)")
	assert.ErrorIs(t, write(t, w, add(3, 0, 0)), io.EOF, "Write after a failed Send: the Send's error")
	assert.ErrorIs(t, waitWriter(t, w), io.EOF, "Wait after a failed Send")
	doneWriting(t, w) // after the loop stopped: does nothing
	assert.Equal(t, []string{"send 1"}, stream.calls, "calls on the stream: nothing after the failed Send")
}

func TestBidi_Writer_ContextEnds_WriterStops(t *testing.T) {
	stream := newRecordingStream()
	ctx, cancel := context.WithCancel(harness.Context(t))
	w := bidi.NewWriter[bidipb.CalcRequest](ctx, stream)
	cancel()

	assert.ErrorIs(t, waitWriter(t, w), context.Canceled, "Wait after the context was cancelled, with no DoneWriting")
	assert.ErrorIs(t, write(t, w, add(1, 0, 0)), context.Canceled, "Write after the Writer stopped: the loop's error")
	assert.Empty(t, stream.calls, "calls on the stream after the context ended")
}
