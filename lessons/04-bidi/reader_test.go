package bidi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/internal/harness"
	bidi "github.com/grpc-workbook/streaming/lessons/04-bidi"
	"github.com/grpc-workbook/streaming/lessons/04-bidi/bidipb"
)

// heldCalculator is the test's own Calculator: it answers each request (a+b)
// only when the test puts a value on release, so the test decides when a
// reply exists. With failWith set, it ends the call with that error after
// its first reply. received, if set, gets each request's id as it arrives.
type heldCalculator struct {
	bidipb.UnimplementedCalculatorServer
	release  chan struct{}
	failWith error
	received chan int64
}

func (h *heldCalculator) Calculate(stream bidipb.Calculator_CalculateServer) error {
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if h.received != nil {
			h.received <- req.GetId()
		}
		if h.release != nil {
			select {
			case <-h.release:
			case <-stream.Context().Done():
				return status.FromContextError(stream.Context().Err()).Err()
			}
		}
		if err := stream.Send(&bidipb.CalcReply{Id: req.GetId(), Result: req.GetA() + req.GetB()}); err != nil {
			return err
		}
		if h.failWith != nil {
			return h.failWith
		}
	}
}

// openCalculate opens a Calculate stream on calc and wraps it in your Writer
// and Reader, the way Python's write(), done_writing() and read(timeout) are
// used on one bidirectional stream. recv lets the test see each Recv the
// Reader makes return; cancel ends the stream.
func openCalculate(t *testing.T, calc bidipb.CalculatorServer, after func(time.Duration) <-chan time.Time) (
	w *bidi.Writer[bidipb.CalcRequest], r *bidi.Reader[bidipb.CalcReply], recv *harness.ObservedRecv[bidipb.CalcReply], cancel func()) {
	t.Helper()
	srv := harness.Start(t, func(s *grpc.Server) { bidipb.RegisterCalculatorServer(s, calc) })
	ctx, cancel := context.WithCancel(harness.Context(t))
	t.Cleanup(cancel)
	stream, err := bidipb.NewCalculatorClient(srv.Conn).Calculate(ctx)
	require.NoError(t, err)
	recv = harness.ObserveRecv[bidipb.CalcReply](stream)
	harness.Call(t, "NewWriter(ctx, stream) and NewReader(ctx, stream, after)", func() {
		w, r = bidi.NewWriter(ctx, stream), bidi.NewReader(ctx, recv, after)
	})
	return w, r, recv, cancel
}

func TestBidi_Reader_Timeout_StreamStaysUsable(t *testing.T) {
	h := &heldCalculator{release: make(chan struct{})}
	clock := harness.NewFakeClock()
	w, r, recv, _ := openCalculate(t, h, clock.After)
	require.NoError(t, write(t, w, add(1, 2, 3)), "write()")
	require.NoError(t, write(t, w, add(2, 4, 5)), "write()")

	// Nothing has been released, so no reply exists: only the timer can end this Read.
	first := readInBackground(r, 2*time.Second)
	index, d := clock.WaitForTimer(t)
	assert.Equal(t, 2*time.Second, d, "the timer Read(2s) started with the injected after")
	clock.Fire(index)
	got := harness.Wait(t, first, "Read(2s) to return after its timer fired")
	assert.ErrorIs(t, got.err, bidi.ErrTimeout, "Read after its timer fired")
	assert.Nil(t, got.reply, "the message from a Read that timed out")

	// The timed-out Read left a Recv waiting. Let it take reply 1, and only
	// then Read again: a single goroutine that owns Recv hands the reply on,
	// while a goroutine started per Read has kept it for a Read that is gone.
	release := func(id int) {
		select {
		case h.release <- struct{}{}:
		case <-harness.Timeout():
			harness.Blocked(t, fmt.Sprintf("the given server to receive request %d", id))
		}
	}
	release(1)
	recv.WaitReceived(t, "the Reader's Recv to receive reply 1")
	got = read(t, r)
	require.NoError(t, got.err, "Read after a timeout: the stream must still be usable")
	assert.Equal(t, int64(1), got.reply.GetId(), "Read after a timeout: the next reply, not lost")

	release(2)
	got = read(t, r)
	require.NoError(t, got.err, "the second Read after a timeout")
	assert.Equal(t, int64(2), got.reply.GetId(), "the second Read after a timeout")

	doneWriting(t, w)
	got = read(t, r)
	assert.ErrorIs(t, got.err, io.EOF, "Read once the server ended the call with OK")
	got = read(t, r)
	assert.ErrorIs(t, got.err, io.EOF, "a second Read after the end: the same io.EOF")
}

// TestBidi_Reader_WriteDoneWritingRead_DubboStyle is the Python guide's
// bidirectional example in Go: write() several requests, done_writing(),
// then read(timeout) until the end.
func TestBidi_Reader_WriteDoneWritingRead_DubboStyle(t *testing.T) {
	w, r, _, _ := openCalculate(t, &givenCalculator{}, harness.NewFakeClock().After) // a clock nobody fires

	for id := int64(1); id <= 5; id++ {
		require.NoError(t, write(t, w, add(id, id, 10)), "write(%d)", id)
	}
	doneWriting(t, w)

	seen := map[int64]int{}
	for range 5 {
		got := read(t, r)
		require.NoError(t, got.err, "read(timeout) while replies are owed")
		seen[got.reply.GetId()]++
	}
	got := read(t, r)
	assert.ErrorIs(t, got.err, io.EOF, "read(timeout) after the last reply")
	assert.Equal(t, map[int64]int{1: 1, 2: 1, 3: 1, 4: 1, 5: 1}, seen, "replies by id")
	assert.NoError(t, waitWriter(t, w), "the Writer after done_writing()")
}

func TestBidi_Reader_StreamFails_ReadReturnsStatus(t *testing.T) {
	h := &heldCalculator{failWith: status.Error(codes.NotFound, "the given calculator lost its tables")}
	w, r, _, _ := openCalculate(t, h, harness.NewFakeClock().After)
	require.NoError(t, write(t, w, add(1, 1, 1)), "write()")

	got := read(t, r)
	require.NoError(t, got.err, "Read before the server failed: its reply comes first")
	assert.Equal(t, int64(1), got.reply.GetId(), "the reply before the failure")

	for _, which := range []string{"first", "second"} {
		got = read(t, r)
		harness.AssertCode(t, got.err, codes.NotFound, which+" Read after the server ended the call with NotFound")
	}
}

// TestBidi_Reader_NilAfter_UsesTimeAfter: nil means time.After.
func TestBidi_Reader_NilAfter_UsesTimeAfter(t *testing.T) {
	w, r, _, _ := openCalculate(t, &givenCalculator{}, nil)
	require.NoError(t, write(t, w, add(1, 1, 1)), "write()")
	doneWriting(t, w)

	got := read(t, r) // a minute of real time: the reply comes long before
	require.NoError(t, got.err, "Read on a Reader made with after == nil")
	assert.Equal(t, int64(1), got.reply.GetId(), "the reply")
	assert.ErrorIs(t, read(t, r).err, io.EOF, "Read after the last reply")
}

// TestBidi_Reader_NobodyReads_GoroutineEnds lets the Reader receive a reply
// that nobody reads, then cancels the stream. The receiving goroutine, stuck
// handing that reply over, must still end: it selects on ctx.Done() too.
func TestBidi_Reader_NobodyReads_GoroutineEnds(t *testing.T) {
	before := lessonGoroutines()
	w, _, recv, cancel := openCalculate(t, &givenCalculator{}, harness.NewFakeClock().After)
	require.NoError(t, write(t, w, add(1, 1, 1)), "write()")
	doneWriting(t, w)
	recv.WaitReceived(t, "the Reader's Recv to receive the reply")

	cancel() // the stream is over, and nobody will call Read
	requireNoGoroutineLeft(t, before, "the stream's context has ended, and")
}

// leavingCalculator is the test's own Calculator. Its handler wraps the
// stream in your Reader, hands the Reader to the test, and returns at once,
// leaving the Reader's goroutine behind in Recv.
type leavingCalculator struct {
	bidipb.UnimplementedCalculatorServer
	readers chan<- *bidi.Reader[bidipb.CalcRequest]
}

func (l leavingCalculator) Calculate(stream bidipb.Calculator_CalculateServer) error {
	l.readers <- bidi.NewReader(stream.Context(), stream, harness.NewFakeClock().After)
	return nil
}

// TestBidi_Reader_LeftoverAfterHandlerReturns_SeesCanceled hands your Reader
// a server stream and lets the handler return while the Reader's goroutine is
// still in Recv. Returning from the handler ends the stream and cancels its
// context, so that leftover Recv returns codes.Canceled: every Read says so,
// and the goroutine ends.
func TestBidi_Reader_LeftoverAfterHandlerReturns_SeesCanceled(t *testing.T) {
	before := lessonGoroutines()
	readers := make(chan *bidi.Reader[bidipb.CalcRequest], 1)
	srv := harness.Start(t, func(s *grpc.Server) {
		bidipb.RegisterCalculatorServer(s, leavingCalculator{readers: readers})
	})
	stream, err := bidipb.NewCalculatorClient(srv.Conn).Calculate(harness.Context(t))
	require.NoError(t, err)
	_, err = stream.Recv()
	require.ErrorIs(t, err, io.EOF, "the handler returned nil, so the client's Recv sees io.EOF")

	leftover := harness.Wait(t, readers, "the handler to hand over its Reader")
	for _, which := range []string{"first", "second"} {
		var err error
		harness.Call(t, "leftover.Read(time.Hour)", func() { _, err = leftover.Read(time.Hour) })
		harness.AssertCode(t, err, codes.Canceled, which+" Read on the leftover Reader after its handler returned")
	}
	requireNoGoroutineLeft(t, before, "the leftover Reader has seen the end of its stream, and")
}
