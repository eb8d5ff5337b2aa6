package bidi_test

import (
	"context"
	"errors"
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

type readResult struct {
	reply *bidipb.CalcReply
	err   error
}

func readInBackground(r *bidi.Reader[bidipb.CalcReply], timeout time.Duration) <-chan readResult {
	done := make(chan readResult, 1)
	go func() {
		reply, err := r.Read(timeout)
		done <- readResult{reply, err}
	}()
	return done
}

// read calls Read and waits for it; the clock is never fired, so Read must
// return because of the stream.
func read(t *testing.T, r *bidi.Reader[bidipb.CalcReply], what string) readResult {
	t.Helper()
	return harness.Wait(t, readInBackground(r, time.Minute), what)
}

// heldCalculator is the test's own Calculator: it answers each request (a+b)
// only when the test puts a value on release, so the test decides when a
// reply exists. With failWith set, it ends the call with that error after
// its first reply.
type heldCalculator struct {
	bidipb.UnimplementedCalculatorServer
	release  chan struct{}
	failWith error
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
// used on one bidirectional stream.
func openCalculate(t *testing.T, calc bidipb.CalculatorServer, after func(time.Duration) <-chan time.Time) (
	*bidi.Writer[bidipb.CalcRequest], *bidi.Reader[bidipb.CalcReply]) {
	t.Helper()
	w, r, _ := openObservedCalculate(t, calc, after)
	return w, r
}

// openObservedCalculate is openCalculate that also lets the test see each
// Recv the Reader makes return.
func openObservedCalculate(t *testing.T, calc bidipb.CalculatorServer, after func(time.Duration) <-chan time.Time) (
	*bidi.Writer[bidipb.CalcRequest], *bidi.Reader[bidipb.CalcReply], *harness.ObservedRecv[bidipb.CalcReply]) {
	t.Helper()
	srv := harness.Start(t, func(s *grpc.Server) { bidipb.RegisterCalculatorServer(s, calc) })
	ctx, cancel := context.WithCancel(harness.Context(t))
	t.Cleanup(cancel)
	stream, err := bidipb.NewCalculatorClient(srv.Conn).Calculate(ctx)
	require.NoError(t, err)
	recv := harness.ObserveRecv[bidipb.CalcReply](stream)
	return bidi.NewWriter(ctx, stream), bidi.NewReader(ctx, recv, after), recv
}

func TestBidi_Reader_Timeout_StreamStaysUsable(t *testing.T) {
	harness.See(t, task4)
	h := &heldCalculator{release: make(chan struct{})}
	clock := harness.NewFakeClock()
	w, r, recv := openObservedCalculate(t, h, clock.After)
	require.NoError(t, w.Write(add(1, 2, 3)), "write(): see README.md, %q", task2)
	require.NoError(t, w.Write(add(2, 4, 5)), "write(): see README.md, %q", task2)

	// Nothing has been released, so no reply exists: only the timer can end this Read.
	first := readInBackground(r, 2*time.Second)
	index, d, early, started := harness.WaitForTimerOr(t, clock, first, "Read(2s) to return")
	if !started {
		t.Fatalf("Read(2s) returned (%v, %v) before any reply existed and before its timer fired: see README.md, %q", early.reply, early.err, task4)
	}
	assert.Equal(t, 2*time.Second, d, "Read(2s) should start a timer of 2s with the injected after; see README.md, %q", task4)
	clock.Fire(index)
	got := harness.Wait(t, first, "Read(2s) to return after its timer fired")
	assert.ErrorIs(t, got.err, bidi.ErrTimeout, "Read after its timer fired; see README.md, %q", task4)
	assert.Nil(t, got.reply)

	// The timed-out Read left a Recv waiting. Let it take reply 1, and only
	// then Read again: a single goroutine that owns Recv hands the reply on,
	// while a goroutine started per Read has kept it for a Read that is gone.
	release := func(id int) {
		select {
		case h.release <- struct{}{}:
		case <-failSafe(t):
			t.Fatalf("the given server never received request %d: see README.md, %q", id, task2)
		}
	}
	release(1)
	recv.WaitReceived(t, "the Reader's Recv to receive reply 1")
	got = harness.WaitPromptly(t, readInBackground(r, time.Minute),
		"Read to return reply 1, which the stream had already received (did a goroutine left over from the timed-out Read keep it?)")
	require.NoError(t, got.err, "Read after a timeout: the stream must still be usable; see README.md, %q", task4)
	assert.Equal(t, int64(1), got.reply.GetId(), "Read after a timeout should return the next reply, not lose it; see README.md, %q", task4)

	release(2)
	got = read(t, r, "Read to return reply 2")
	require.NoError(t, got.err, "the second Read after a timeout; see README.md, %q", task4)
	assert.Equal(t, int64(2), got.reply.GetId(), "the second Read after a timeout; see README.md, %q", task4)

	w.DoneWriting()
	got = read(t, r, "Read to see the end of the stream after done_writing()")
	assert.ErrorIs(t, got.err, io.EOF, "Read once the server ended the call with OK; see README.md, %q", task4)
	got = read(t, r, "a second Read after the end")
	assert.ErrorIs(t, got.err, io.EOF, "Read after the end should keep returning io.EOF; see README.md, %q", task4)
}

// TestBidi_Reader_WriteDoneWritingRead_DubboStyle is the Python guide's
// bidirectional example in Go: write() several requests, done_writing(),
// then read(timeout) until the end.
func TestBidi_Reader_WriteDoneWritingRead_DubboStyle(t *testing.T) {
	harness.See(t, task4)
	w, r := openCalculate(t, &givenCalculator{}, harness.NewFakeClock().After) // a clock nobody fires

	for id := int64(1); id <= 5; id++ {
		require.NoError(t, w.Write(add(id, id, 10)), "write(%d): see README.md, %q", id, task2)
	}
	w.DoneWriting()

	seen := map[int64]int{}
	for range 5 {
		got := read(t, r, "read(timeout) to return a reply")
		require.NoError(t, got.err, "read(timeout) while replies are owed: see README.md, %q", task4)
		seen[got.reply.GetId()]++
	}
	got := read(t, r, "read(timeout) to return the end of the stream")
	assert.ErrorIs(t, got.err, io.EOF, "read(timeout) after the last reply; see README.md, %q", task4)
	assert.Equal(t, map[int64]int{1: 1, 2: 1, 3: 1, 4: 1, 5: 1}, seen, "replies by id; see README.md, %q", task4)
	assert.NoError(t, waitWriter(t, w, "the Writer to stop"), "the Writer after done_writing()")
}

func TestBidi_Reader_StreamFails_ReadReturnsStatus(t *testing.T) {
	harness.See(t, task4)
	h := &heldCalculator{failWith: status.Error(codes.NotFound, "the given calculator lost its tables")}
	w, r := openCalculate(t, h, harness.NewFakeClock().After)
	require.NoError(t, w.Write(add(1, 1, 1)), "write(): see README.md, %q", task2)

	got := read(t, r, "Read to return the one reply")
	require.NoError(t, got.err, "Read before the server failed: its reply comes first; see README.md, %q", task4)
	assert.Equal(t, int64(1), got.reply.GetId())

	for _, which := range []string{"first", "second"} {
		got = read(t, r, which+" Read after the server failed")
		harness.AssertCode(t, got.err, codes.NotFound, which+" Read after the server ended the call with NotFound", task4)
	}
}
