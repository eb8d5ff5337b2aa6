package bidi_test

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-workbook/streaming/internal/harness"
	bidi "github.com/grpc-workbook/streaming/lessons/04-bidi"
	"github.com/grpc-workbook/streaming/lessons/04-bidi/bidipb"
)

// recordingStream stands in for a client stream's sending half. Like the
// real one, it is not safe for concurrent use: it records calls without a
// lock, so under -race two goroutines calling Send (or Send and CloseSend)
// without one waiting for the other are reported as a data race. It also
// counts calls that overlap in time, for a readable message without -race.
type recordingStream struct {
	calls []string // "send 17", "close": written without a lock on purpose

	active   atomic.Int32
	overlaps atomic.Int32
	closes   atomic.Int32

	gate   chan struct{} // if set, the first Send waits for it to close
	inSend chan struct{} // if set, closed when the first Send starts
	failAt int           // the Send call (1-based) that fails with io.EOF; 0 for never
	sends  int
}

func (s *recordingStream) enter() func() {
	if s.active.Add(1) > 1 {
		s.overlaps.Add(1)
	}
	return func() { s.active.Add(-1) }
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
	defer s.enter()()
	s.closes.Add(1)
	s.calls = append(s.calls, "close")
	return nil
}

// waitWriter runs w.Wait on its own goroutine, so a Writer that never stops
// fails the test at the fail-safe instead of hanging it.
func waitWriter(t *testing.T, w *bidi.Writer[bidipb.CalcRequest], what string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- w.Wait() }()
	return harness.Wait(t, done, what)
}

func TestBidi_Writer_ManyProducers_EachMessageOnce(t *testing.T) {
	harness.See(t, task2)
	stream := &recordingStream{}
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
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err, "Write from one of %d producers at once: see README.md, %q", producers, task2)
	}
	w.DoneWriting()
	require.NoError(t, waitWriter(t, w, "the Writer to stop after DoneWriting"),
		"Wait after DoneWriting: see README.md, %q", task2)

	// Wait returned, so the send loop is over and its record is safe to read.
	require.Zero(t, stream.overlaps.Load(),
		"Send or CloseSend ran on two goroutines at once: only the Writer's loop may call them; see README.md, %q", task2)
	require.NotEmpty(t, stream.calls)
	assert.Equal(t, "close", stream.calls[len(stream.calls)-1],
		"the last call on the stream should be CloseSend, after every Send; see README.md, %q", task2)
	assert.Equal(t, int32(1), stream.closes.Load(), "CloseSend calls: want (left), got (right); see README.md, %q", task2)

	seen := map[string]int{}
	last := map[int]int{} // producer -> last message index seen
	for _, call := range stream.calls[:len(stream.calls)-1] {
		seen[call]++
		var id int
		_, err := fmt.Sscanf(call, "send %d", &id)
		require.NoError(t, err, "unexpected call %q before the last one", call)
		p, i := (id-1)/1000, (id-1)%1000
		assert.Greater(t, i+1, last[p], "producer %d's messages arrived out of its own order; see README.md, %q", p, task2)
		last[p] = i + 1
	}
	for p := range producers {
		for i := range each {
			call := fmt.Sprintf("send %d", p*1000+i+1)
			assert.Equal(t, 1, seen[call], "%s: want (left) exactly one Send, got (right); see README.md, %q", call, task2)
		}
	}
}

// TestBidi_Writer_DoneWritingDuringSend_ClosesAfterIt calls DoneWriting while
// a Send is blocked (as under flow control). CloseSend must wait for that Send
// to return: the two may never run at the same time.
func TestBidi_Writer_DoneWritingDuringSend_ClosesAfterIt(t *testing.T) {
	harness.See(t, task2)
	stream := &recordingStream{gate: make(chan struct{}), inSend: make(chan struct{})}
	w := bidi.NewWriter[bidipb.CalcRequest](harness.Context(t), stream)

	require.NoError(t, w.Write(add(1, 0, 0)), "Write: see README.md, %q", task2)
	harness.Wait(t, stream.inSend, "the Writer's loop to call Send")

	w.DoneWriting() // a signal: it must not wait for the blocked Send
	assert.Zero(t, stream.closes.Load(),
		"CloseSend ran while a Send was still in progress; leave CloseSend to the send loop; see README.md, %q", task2)
	close(stream.gate)

	require.NoError(t, waitWriter(t, w, "the Writer to stop after DoneWriting"), "Wait: see README.md, %q", task2)
	assert.Equal(t, []string{"send 1", "close"}, stream.calls, "calls on the stream, in order; see README.md, %q", task2)
	assert.Zero(t, stream.overlaps.Load(), "calls overlapped on the stream; see README.md, %q", task2)
}

func TestBidi_Writer_WriteAfterDoneWriting_ErrClosed(t *testing.T) {
	harness.See(t, task2)
	stream := &recordingStream{}
	w := bidi.NewWriter[bidipb.CalcRequest](harness.Context(t), stream)

	require.NoError(t, w.Write(add(1, 0, 0)), "Write: see README.md, %q", task2)
	w.DoneWriting()
	assert.NotPanics(t, w.DoneWriting, "a second DoneWriting should do nothing; see README.md, %q", task2)

	err := w.Write(add(2, 0, 0))
	assert.ErrorIs(t, err, bidi.ErrClosed, "Write after DoneWriting: see README.md, %q", task2)

	require.NoError(t, waitWriter(t, w, "the Writer to stop after DoneWriting"), "Wait: see README.md, %q", task2)
	assert.Equal(t, []string{"send 1", "close"}, stream.calls,
		"calls on the stream: the message written after DoneWriting must not be sent, and CloseSend comes once; see README.md, %q", task2)
}

// TestBidi_Writer_SendFails_WritesStop makes the second Send fail with
// io.EOF, as a real one does once the server has ended the call. Later Writes
// must report it instead of blocking on a loop that is gone.
func TestBidi_Writer_SendFails_WritesStop(t *testing.T) {
	harness.See(t, task2)
	stream := &recordingStream{failAt: 2}
	w := bidi.NewWriter[bidipb.CalcRequest](harness.Context(t), stream)

	require.NoError(t, w.Write(add(1, 0, 0)), "first Write: see README.md, %q", task2)
	require.NoError(t, w.Write(add(2, 0, 0)), "second Write (the loop takes it; its Send then fails): see README.md, %q", task2)

	third := make(chan error, 1)
	go func() { third <- w.Write(add(3, 0, 0)) }()
	err := harness.Wait(t, third, "Write to return after the send loop stopped")
	assert.ErrorIs(t, err, io.EOF, "Write after a failed Send should return the Send's error; see README.md, %q", task2)

	assert.ErrorIs(t, waitWriter(t, w, "the Writer to stop after a failed Send"), io.EOF,
		"Wait after a failed Send; see README.md, %q", task2)
	assert.NotPanics(t, w.DoneWriting, "DoneWriting after the loop stopped should do nothing")
}

func TestBidi_Writer_ContextEnds_WriterStops(t *testing.T) {
	harness.See(t, task2)
	stream := &recordingStream{}
	ctx, cancel := context.WithCancel(harness.Context(t))
	w := bidi.NewWriter[bidipb.CalcRequest](ctx, stream)
	cancel()

	assert.ErrorIs(t, waitWriter(t, w, "the Writer to stop after its context ended"), context.Canceled,
		"Wait after the context was cancelled, with no DoneWriting: see README.md, %q", task2)

	written := make(chan error, 1)
	go func() { written <- w.Write(add(1, 0, 0)) }()
	assert.Error(t, harness.Wait(t, written, "Write to return after the Writer stopped"),
		"Write after the Writer stopped; see README.md, %q", task2)
	assert.Empty(t, stream.calls, "nothing should be sent after the context ended")
}
