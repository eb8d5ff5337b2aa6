package unary_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/internal/harness"
	unary "github.com/grpc-workbook/streaming/lessons/01-unary"
	"github.com/grpc-workbook/streaming/lessons/01-unary/greeterpb"
)

// TestUnary_AwaitGuest_GreetsArrival expects a waiting AwaitGuest to take
// the guest who walks in and answer "Hello, <name>!".
func TestUnary_AwaitGuest_GreetsArrival(t *testing.T) {
	d := startGreeter(t)
	result := awaitInBackground(harness.Context(t), d.client)
	d.srv.HandlerStarted(t, "AwaitGuest")

	var got awaitResult
	select {
	case d.arrivals <- "Margaret":
		got = harness.Wait(t, result, "AwaitGuest to return once Margaret arrived")
	case got = <-result: // it returned without taking a guest: the checks below say how
	case <-harness.Timeout():
		harness.Blocked(t, "AwaitGuest to take a guest from the arrivals channel")
	}
	harness.RequireOK(t, got.err, "AwaitGuest while Margaret arrives")
	assert.Equal(t, "Hello, Margaret!", got.reply.GetMessage(), "AwaitGuest's reply")
}

// TestUnary_AwaitGuest_ClientCancels_HandlerStops cancels a call that is
// waiting and expects both ends to see codes.Canceled: the client at once,
// and the handler, which notices through its ctx and returns instead of
// waiting for a guest.
func TestUnary_AwaitGuest_ClientCancels_HandlerStops(t *testing.T) {
	d := startGreeter(t)

	ctx, cancel := context.WithCancel(harness.Context(t))
	result := awaitInBackground(ctx, d.client)
	d.srv.HandlerStarted(t, "AwaitGuest") // cancel only once the handler is really waiting
	cancel()

	got := harness.Wait(t, result, "the client's AwaitGuest call to return after cancel()")
	harness.AssertCode(t, got.err, codes.Canceled, "AwaitGuest, client side, after cancel()")

	handler := d.srv.HandlerReturned(t, "AwaitGuest") // fails here if the handler ignores its ctx
	harness.AssertCode(t, handler.Err, codes.Canceled, "AwaitGuest handler's returned error after the client cancelled")
}

// TestUnary_AwaitGuest_DeadlinePasses_BothSidesSeeIt gives the call a short
// deadline and expects the client to see codes.DeadlineExceeded and the
// handler to return: the deadline travels with the request, so the server's
// ctx ends too.
func TestUnary_AwaitGuest_DeadlinePasses_BothSidesSeeIt(t *testing.T) {
	// On a very busy machine the client may give up before the server has
	// even read the request; gRPC then drops the call without running the
	// handler, and this attempt says nothing about the server side. Try again
	// with a longer deadline: a handler that ran is always judged.
	for deadline := 50 * time.Millisecond; deadline <= 1600*time.Millisecond; deadline *= 2 {
		d := startGreeter(t)
		ctx, cancel := context.WithTimeout(harness.Context(t), deadline)
		result := awaitInBackground(ctx, d.client)

		got := harness.Wait(t, result, "the client's AwaitGuest call to return after its deadline")
		cancel()
		harness.AssertCode(t, got.err, codes.DeadlineExceeded, fmt.Sprintf("AwaitGuest with a %v deadline, client side", deadline))
		if !d.srv.HandlerHasStarted("AwaitGuest") {
			continue
		}

		// The server's ctx ends either way, but which error it carries is a
		// race: its own copy of the deadline may fire first
		// (DeadlineExceeded), or the client's reset of the stream may arrive
		// first (Canceled). TestUnary_AwaitGuest_ContextDeadlinePassed_DeadlineExceeded
		// checks the first case alone.
		handler := d.srv.HandlerReturned(t, "AwaitGuest")
		assert.Contains(t, []codes.Code{codes.DeadlineExceeded, codes.Canceled}, status.Code(handler.Err),
			"AwaitGuest handler after the deadline: got %s, want codes.DeadlineExceeded or codes.Canceled, "+
				"made with status.FromContextError(ctx.Err())", harness.Describe(handler.Err))
		return
	}
	t.Fatalf("the server never ran AwaitGuest before the client's deadline passed, even with 1.6s: the machine is too busy to judge; run the test again")
}

// TestUnary_AwaitGuest_ContextDeadlinePassed_DeadlineExceeded calls your
// AwaitGuest directly, as gRPC does, with a ctx whose deadline has passed,
// and expects codes.DeadlineExceeded: the code must say why the wait ended
// (a handler that answers codes.Canceled for every ended ctx hides it).
func TestUnary_AwaitGuest_ContextDeadlinePassed_DeadlineExceeded(t *testing.T) {
	arrivals := make(chan string) // nobody arrives
	t.Cleanup(func() { close(arrivals) })
	server := unary.NewServer(arrivals)
	ctx, cancel := context.WithDeadline(harness.Context(t), time.Now())
	defer cancel()

	call := "AwaitGuest(ctx whose deadline has passed), called directly"
	var err error
	harness.Call(t, call, func() { _, err = server.AwaitGuest(ctx, &greeterpb.AwaitGuestRequest{}) })
	harness.AssertCode(t, err, codes.DeadlineExceeded, call)
}

// TestUnary_AwaitGuest_DeskClosed_Unavailable closes arrivals before anyone
// asks, and expects every AwaitGuest to answer codes.Unavailable at once: a
// receive from a closed channel returns "" at once, and greeting "" would
// reply "Hello, !".
func TestUnary_AwaitGuest_DeskClosed_Unavailable(t *testing.T) {
	d := startGreeter(t)
	d.close()

	for i := 1; i <= 3; i++ {
		call := fmt.Sprintf("AwaitGuest #%d after the desk closed", i)
		got := harness.Wait(t, awaitInBackground(harness.Context(t), d.client), call+" to return")
		assert.Empty(t, got.reply.GetMessage(), "%s: nobody arrived, so nobody should be greeted", call)
		harness.RequireCode(t, got.err, codes.Unavailable, call)
	}
}

// TestUnary_AwaitGuest_DeskClosesWhileWaiting_EveryCallUnavailable has four
// calls waiting when arrivals is closed, and expects each of them, and a call
// made after, to answer codes.Unavailable.
func TestUnary_AwaitGuest_DeskClosesWhileWaiting_EveryCallUnavailable(t *testing.T) {
	const waiting = 4
	d := startGreeter(t)
	ctx := harness.Context(t)

	results := make([]<-chan awaitResult, waiting)
	for i := range results {
		results[i] = awaitInBackground(ctx, d.client)
		d.srv.HandlerStarted(t, "AwaitGuest")
	}
	d.close()

	for i, result := range results {
		call := fmt.Sprintf("AwaitGuest #%d of %d waiting when the desk closed", i+1, waiting)
		got := harness.Wait(t, result, call+" to return")
		harness.AssertCode(t, got.err, codes.Unavailable, call)
	}
	got := harness.Wait(t, awaitInBackground(ctx, d.client), "an AwaitGuest made after the desk closed to return")
	harness.AssertCode(t, got.err, codes.Unavailable, "AwaitGuest made after the desk closed")
}
