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

// recordingStream stands in for a client stream's sending half and records
// the calls made on it. It notes calls that overlap in time, which gRPC
// forbids on a sending half. To make them show every time, a test can have
// the first Send wait until another call starts or until the test's
// condition holds, and CloseSend wait for the test's condition too.
type recordingStream struct {
	mu    sync.Mutex
	calls []string // "send 17", "close"

	active     atomic.Int32 // calls in progress
	overlapped atomic.Bool  // a call started while another was running
	sends      atomic.Int32
	closes     atomic.Int32

	gate          chan struct{} // if set, the first Send waits for it to close
	inSend        chan struct{} // if set, closed when the first Send starts
	holdFirstSend func() bool   // if set, the first Send waits until it holds, or another call starts
	holdClose     func() bool   // if set, CloseSend waits until it holds
	failAt        int32         // the Send call (1-based) that fails with io.EOF; 0 for never

	closed       chan struct{} // closed by the first CloseSend, when it returns
	once         sync.Once
	waitReturned atomic.Bool // set by the test once the Writer's Wait has returned
	lateClose    atomic.Bool // CloseSend returned after Wait had
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
	if s.active.Add(1) > 1 {
		s.overlapped.Store(true)
	}
	return func() { s.active.Add(-1) }
}

func (s *recordingStream) record(call string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, call)
}

// record returns the calls made so far.
func (s *recordingStream) recorded() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

func (s *recordingStream) Send(req *bidipb.CalcRequest) error {
	defer s.enter()()
	n := s.sends.Add(1)
	if n == 1 && s.gate != nil {
		close(s.inSend)
		<-s.gate
	}
	if n == 1 && s.holdFirstSend != nil {
		harness.Eventually(func() bool { return s.overlapped.Load() || s.holdFirstSend() })
	}
	if n == s.failAt {
		return io.EOF // what a real Send returns once the server has ended the call
	}
	s.record(fmt.Sprintf("send %d", req.GetId()))
	return nil
}

func (s *recordingStream) CloseSend() error {
	exit := s.enter()
	if s.holdClose != nil {
		harness.Eventually(s.holdClose)
	}
	s.closes.Add(1)
	s.record("close")
	exit()
	if s.waitReturned.Load() {
		s.lateClose.Store(true)
	}
	s.once.Do(func() { close(s.closed) })
	return nil
}

// TestBidi_Writer_ManyProducers_EachMessageOnce has eight producers write
// fifty messages each at once. The first Send waits until every producer is
// waiting in Write, or until a second call on the stream starts: a Write
// that calls Send itself shows as two senders every time.
func TestBidi_Writer_ManyProducers_EachMessageOnce(t *testing.T) {
	const producers, each = 8, 50
	stream := newRecordingStream()
	stream.holdFirstSend = func() bool { return blockedIn(lessonGoroutines(), "(*Writer[...]).Write") >= producers }
	w := bidi.NewWriter[bidipb.CalcRequest](harness.Context(t), stream)

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

	require.False(t, stream.overlapped.Load(),
		"Send or CloseSend ran on two goroutines at once: only the Writer's loop may call them")
	calls := stream.recorded()
	require.NotEmpty(t, calls, "calls on the stream")
	assert.Equal(t, "close", calls[len(calls)-1], "the last call on the stream: CloseSend, after every Send")

	seen := map[string]int{}
	last := map[int]int{} // producer -> last message index seen
	for _, call := range calls[:len(calls)-1] {
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
// a Send is blocked (as under flow control) and another producer waits to
// write. DoneWriting only signals: it returns at once, and CloseSend waits for
// that Send to return, since the two may never run at the same time. Every
// message a Write accepted is sent before CloseSend. And Wait returns only
// once the loop has stopped: CloseSend is held until Wait is seen waiting,
// so a Wait that returns sooner shows every time.
func TestBidi_Writer_DoneWritingDuringSend_ClosesAfterIt(t *testing.T) {
	stream, release := gated(t)
	var waiter atomic.Value // the goroutine in w.Wait()
	stream.holdClose = func() bool {
		if stream.waitReturned.Load() {
			return true
		}
		id, _ := waiter.Load().(int)
		g, ok := lessonGoroutines()[id]
		return ok && blocked(g.State)
	}
	w := bidi.NewWriter[bidipb.CalcRequest](harness.Context(t), stream)

	require.NoError(t, write(t, w, add(1, 0, 0)), "Write")
	harness.Wait(t, stream.inSend, "the Writer's loop to call Send")

	accepted := make(chan int64, 32) // ids whose Write returned nil
	producing := make(chan struct{})
	go func() {
		defer close(producing)
		for id := int64(2); id <= 21; id++ {
			if w.Write(add(id, 0, 0)) != nil {
				return
			}
			accepted <- id
		}
	}()
	waitUntilWaitingIn(t, "(*Writer[...]).Write", producing, "a second producer's Write to wait for the busy loop (or to return)")

	doneWriting(t, w) // fails here if DoneWriting waits for the blocked Send
	assert.Zero(t, stream.closes.Load(),
		"CloseSend ran while a Send was still in progress; leave CloseSend to the send loop")
	release()

	var err error
	harness.Call(t, "w.Wait()", func() {
		waiter.Store(currentGoroutine())
		err = w.Wait()
	})
	stream.waitReturned.Store(true)
	require.NoError(t, err, "Wait after DoneWriting")
	harness.Wait(t, stream.closed, "the Writer's loop to call CloseSend")
	assert.False(t, stream.lateClose.Load(), "CloseSend returned after Wait had: Wait must wait for the send loop to stop")

	harness.Wait(t, producing, "the second producer's Write to return after DoneWriting")
	close(accepted)
	want := []string{"send 1"}
	for id := range accepted {
		want = append(want, fmt.Sprintf("send %d", id))
	}
	assert.Equal(t, append(want, "close"), stream.recorded(),
		"calls on the stream: every message a Write accepted, then CloseSend")
	assert.False(t, stream.overlapped.Load(), "calls overlapped on the stream")
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
	assert.Equal(t, []string{"send 1", "close"}, stream.recorded(),
		"calls on the stream: a message written after DoneWriting is never sent, and CloseSend comes once")
}

// TestBidi_Writer_NothingWritten_DoneWritingCloses: a stream with no messages
// is valid, and DoneWriting still half-closes it.
func TestBidi_Writer_NothingWritten_DoneWritingCloses(t *testing.T) {
	stream := newRecordingStream()
	w := bidi.NewWriter[bidipb.CalcRequest](harness.Context(t), stream)

	doneWriting(t, w)
	require.NoError(t, waitWriter(t, w), "Wait after DoneWriting with nothing written")
	assert.Equal(t, []string{"close"}, stream.recorded(), "calls on the stream")
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
	assert.Equal(t, []string{"send 1"}, stream.recorded(), "calls on the stream: nothing after the failed Send")
}

func TestBidi_Writer_ContextEnds_WriterStops(t *testing.T) {
	stream := newRecordingStream()
	ctx, cancel := context.WithCancel(harness.Context(t))
	w := bidi.NewWriter[bidipb.CalcRequest](ctx, stream)
	cancel()

	assert.ErrorIs(t, waitWriter(t, w), context.Canceled, "Wait after the context was cancelled, with no DoneWriting")
	assert.ErrorIs(t, write(t, w, add(1, 0, 0)), context.Canceled, "Write after the Writer stopped: the loop's error")
	assert.Empty(t, stream.recorded(), "calls on the stream after the context ended")
}
