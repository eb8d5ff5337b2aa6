package resilience_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/internal/harness"
	resilience "github.com/grpc-workbook/streaming/lessons/06-resilience"
	"github.com/grpc-workbook/streaming/lessons/06-resilience/resiliencepb"
)

func unavailable() error { return status.Error(codes.Unavailable, "the server is restarting") }

// expectWaits takes Follow's waits from clock one by one, checks each
// asks for the duration wanted, and ends it.
func expectWaits(t *testing.T, clock *fakeClock, run *following, want ...time.Duration) {
	t.Helper()
	for i, d := range want {
		got := clock.Next(t, run)
		require.Equal(t, d, got, "Follow's wait number %d (Backoff with Base 100ms, Cap 300ms, Rand always 0.5)", i+1)
		clock.Fire()
	}
}

// TestResilience_Follow_WaitsGrowAndResetAfterEvents expects the waits
// between attempts to follow the Backoff, attempt 0, 1, 2, ..., and to
// start again from attempt 0 after a stream that delivered events. The
// script: two refusals, a stream that delivers 1 and 2 and breaks, three
// more refusals, then PermissionDenied.
func TestResilience_Follow_WaitsGrowAndResetAfterEvents(t *testing.T) {
	clock := newFakeClock()
	_, _, f := startScript(t, clock,
		step{end: unavailable()},
		step{end: unavailable()},
		step{events: []int{1, 2}, end: unavailable()},
		step{end: unavailable()},
		step{end: unavailable()},
		step{end: unavailable()},
		step{end: status.Error(codes.PermissionDenied, "not yours")},
	)
	h := newHandled()
	run := startFollow(t, f, 0, h.handle)

	ms := time.Millisecond
	expectWaits(t, clock, run,
		50*ms, 100*ms, // attempts 0 and 1: ceilings 100 ms and 200 ms
		50*ms,                  // the stream delivered events: attempt 0 again
		100*ms, 150*ms, 150*ms, // attempts 1, 2, 3: 200 ms, then the cap, 300 ms
	)
	err := run.Returned(t, "Follow to return once the script ends with PermissionDenied")
	harness.AssertCode(t, err, codes.PermissionDenied, "Follow's error")
	assert.Equal(t, []int{1, 2}, h.Seqs(), "the events Follow's handler saw")
}

// TestResilience_Follow_ResumesAfterTheLastEventHandled expects each new
// Subscribe to ask for the events after the last one handled: not from the
// start, not one further. It starts after 10.
func TestResilience_Follow_ResumesAfterTheLastEventHandled(t *testing.T) {
	clock := newFakeClock()
	s, _, f := startScript(t, clock,
		step{events: []int{11, 12, 13}, end: unavailable()},
		step{events: []int{14}, end: unavailable()},
		step{end: unavailable()},
		step{events: []int{15, 16}, end: status.Error(codes.NotFound, "feed deleted")},
	)
	h := newHandled()
	run := startFollow(t, f, 10, h.handle)

	ms := time.Millisecond
	expectWaits(t, clock, run, 50*ms, 50*ms, 100*ms)
	err := run.Returned(t, "Follow to return once the script ends with NotFound")
	harness.AssertCode(t, err, codes.NotFound, "Follow's error")
	assert.Equal(t, []int{10, 13, 14, 14}, s.Asked(),
		"the after_seq of each Subscribe: the position Follow started from, then the last event handled each time")
	assert.Equal(t, []int{11, 12, 13, 14, 15, 16}, h.Seqs(), "the events Follow's handler saw")
}

// TestResilience_Follow_PermanentError_StopsAtOnce expects every error
// Retryable rejects to end Follow at once, with that error, after handling
// what came before it, and with no wait and no second Subscribe.
func TestResilience_Follow_PermanentError_StopsAtOnce(t *testing.T) {
	for _, code := range []codes.Code{
		codes.InvalidArgument, codes.NotFound, codes.PermissionDenied, codes.Unauthenticated,
		codes.FailedPrecondition, codes.OutOfRange, codes.DeadlineExceeded, codes.ResourceExhausted,
	} {
		t.Run(code.String(), func(t *testing.T) {
			clock := newFakeClock()
			s, _, f := startScript(t, clock, step{events: []int{1}, end: status.Error(code, "permanent")})
			h := newHandled()
			err := clock.Returned(t, startFollow(t, f, 0, h.handle), fmt.Sprintf("Follow to return once the stream ends with %s", code))
			harness.RequireCode(t, err, code, "Follow's error")
			assert.Equal(t, []int{1}, h.Seqs(), "the events Follow's handler saw before the error")
			assert.Equal(t, []int{0}, s.Asked(), "the after_seq of each Subscribe: one call, no retry")
		})
	}
}

// TestResilience_Follow_StreamEndsOK_Resumes expects a stream that ends
// with OK (the client's Recv gets io.EOF) to be resumed like a broken one:
// the server ended it, but the subscriber still wants every event.
func TestResilience_Follow_StreamEndsOK_Resumes(t *testing.T) {
	clock := newFakeClock()
	s, _, f := startScript(t, clock,
		step{events: []int{1, 2}}, // ends with OK
		step{events: []int{3}, end: status.Error(codes.PermissionDenied, "not yours")},
	)
	h := newHandled()
	run := startFollow(t, f, 0, h.handle)

	expectWaits(t, clock, run, 50*time.Millisecond)
	err := run.Returned(t, "Follow to return once the script ends with PermissionDenied")
	harness.AssertCode(t, err, codes.PermissionDenied, "Follow's error")
	assert.Equal(t, []int{0, 2}, s.Asked(), "the after_seq of each Subscribe: a stream that ended with OK is resumed")
	assert.Equal(t, []int{1, 2, 3}, h.Seqs(), "the events Follow's handler saw")
}

// TestResilience_Follow_CancelWhileWaiting_ReturnsAtOnce expects the caller
// cancelling during a wait to end Follow at once, with ctx's error, and no
// further Subscribe.
func TestResilience_Follow_CancelWhileWaiting_ReturnsAtOnce(t *testing.T) {
	clock := newFakeClock()
	s, _, f := startScript(t, clock, step{end: unavailable()})
	run := startFollow(t, f, 0, newHandled().handle)

	clock.Next(t, run) // Follow waits before its second attempt
	t.Cleanup(clock.FireAll)
	run.cancel()
	err := run.Returned(t, "Follow to return after its ctx was cancelled during a wait that has not ended")
	assert.ErrorIs(t, err, context.Canceled, "Follow's error after its ctx was cancelled: ctx.Err()")
	assert.Equal(t, []int{0}, s.Asked(), "the after_seq of each Subscribe: none after the cancel")
}

// TestResilience_Follow_CancelWhileStreaming_ReturnsAndLeavesNothing
// expects the caller cancelling while a stream is open to end the stream
// (the server's handler returns), end Follow with ctx's error, and leave no
// goroutine behind.
func TestResilience_Follow_CancelWhileStreaming_ReturnsAndLeavesNothing(t *testing.T) {
	noLeaks(t)
	clock := newFakeClock()
	_, srv, f := startScript(t, clock, step{events: []int{1, 2}, end: unavailable()}) // then a stream that stays open
	h := newHandled()
	run := startFollow(t, f, 0, h.handle)

	expectWaits(t, clock, run, 50*time.Millisecond)
	srv.HandlerStarted(t, "Subscribe")
	srv.HandlerStarted(t, "Subscribe") // the second stream is open, and sends nothing
	run.Running(t, "while its stream is open")
	run.cancel()
	err := run.Returned(t, "Follow to return after its ctx was cancelled while a stream was open")
	assert.ErrorIs(t, err, context.Canceled, "Follow's error after its ctx was cancelled: ctx.Err()")
	srv.HandlerReturned(t, "Subscribe")
	returned := srv.HandlerReturned(t, "Subscribe") // fails here if the stream was not made with Follow's ctx
	harness.AssertCode(t, returned.Err, codes.Canceled, "the open stream's handler after Follow's ctx was cancelled")
	assert.Equal(t, []int{1, 2}, h.Seqs(), "the events Follow's handler saw")
}

// TestResilience_Follow_ServerDown_RetriesUntilItIsBack starts Follow
// while the server is down. Subscribe fails with codes.Unavailable (from
// the client's own gRPC library, which cannot connect), so Follow waits and
// tries again, until the server is back.
func TestResilience_Follow_ServerDown_RetriesUntilItIsBack(t *testing.T) {
	log := resilience.NewLog(10, 10)
	appendEvents(t, log, 1, 3)
	server := startFeed(t, log)
	server.Stop()
	waits := newInstantWaits()
	f := &resilience.Follower{
		Client:  resiliencepb.NewFeedClient(server.Conn(t)),
		Backoff: resilience.Backoff{Base: 100 * time.Millisecond, Cap: time.Second, Rand: func() float64 { return 0.5 }},
		After:   waits.After,
	}
	h := newHandled()
	run := startFollow(t, f, 0, h.handle)

	select {
	case <-waits.added:
	case res := <-run.done:
		run.done <- res
		t.Fatalf("Follow returned %s (panic: %q) while the server was down: Unavailable is retried, also from Subscribe itself",
			harness.Describe(res.err), res.panicked)
	case <-harness.Timeout():
		harness.Blocked(t, "Follow to wait after Subscribe failed, because the server is down")
	}
	server.Start()
	h.WaitFor(t, 3, run)
	assert.Equal(t, []int{1, 2, 3}, h.Seqs(), "the events Follow's handler saw once the server was back")
	assert.Equal(t, 50*time.Millisecond, waits.Waits()[0], "Follow's first wait: attempt 0")
}

// TestResilience_Follow_RestartsAndCutsWhilePublishing_EveryEventOnceInOrder
// is the whole point. A publisher appends 400 events, one after another,
// while the server restarts four times (once staying down until a client is
// refused) and every connection is cut twice, each time in the middle of a
// stream. Follow's handler must see every event exactly once, in order.
func TestResilience_Follow_RestartsAndCutsWhilePublishing_EveryEventOnceInOrder(t *testing.T) {
	const total = 400
	log := resilience.NewLog(total, 1)
	server := startFeed(t, log)
	waits := newInstantWaits()
	f := &resilience.Follower{Client: resiliencepb.NewFeedClient(server.Conn(t)), Backoff: resilience.DefaultBackoff(), After: waits.After}
	h := newHandled()
	run := startFollow(t, f, 0, h.handle)

	// The publisher stays at most 40 events ahead of the handler, so events
	// are published before, during and after every fault.
	ctx, stop := context.WithCancel(context.Background())
	published := make(chan struct{})
	go func() {
		defer close(published)
		for seq := 1; seq <= total; seq++ {
			if !h.waitPast(ctx, seq-40) {
				return
			}
			log.Append(fmt.Sprintf("event %d", seq))
		}
	}()
	t.Cleanup(func() { stop(); <-published })

	faults := []struct {
		after int
		what  string
		do    func()
	}{
		{50, "restart", server.Restart},
		{100, "cut", server.Cut},
		{150, "restart", server.Restart},
		{200, "stop, and start once a client was refused", func() { server.Stop(); server.WaitRefused(t); server.Start() }},
		{250, "cut", server.Cut},
		{300, "restart", server.Restart},
	}
	for _, fault := range faults {
		h.WaitFor(t, fault.after, run)
		fault.do()
		t.Logf("%s after the handler saw %d events", fault.what, fault.after)
	}
	harness.Wait(t, published, "the publisher to finish")
	h.WaitForSeq(t, total, run)
	run.Running(t, "after every fault")
	run.cancel()
	assert.ErrorIs(t, run.Returned(t, "Follow to return once its ctx was cancelled"), context.Canceled, "Follow's error after its ctx was cancelled")
	harness.AssertEachOnceInOrder(t, "the events Follow's handler saw", 1, total, h.Seqs())
	t.Logf("Follow waited %d times", len(waits.Waits()))
}
