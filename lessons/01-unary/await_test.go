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
	"github.com/grpc-workbook/streaming/lessons/01-unary/greeterpb"
)

// awaitResult is what a client goroutine's AwaitGuest call came back with.
type awaitResult struct {
	reply *greeterpb.HelloReply
	err   error
}

// awaitInBackground calls AwaitGuest on its own goroutine, so the test can
// act while the call is in flight, and hands back the result on a channel.
func awaitInBackground(ctx context.Context, client greeterpb.GreeterClient) <-chan awaitResult {
	done := make(chan awaitResult, 1)
	go func() {
		reply, err := client.AwaitGuest(ctx, &greeterpb.AwaitGuestRequest{})
		done <- awaitResult{reply, err}
	}()
	return done
}

func TestUnary_AwaitGuest_GreetsArrival(t *testing.T) {
	harness.See(t)
	client, srv, arrivals := startGreeter(t)

	ctx := harness.Context(t)
	result := awaitInBackground(ctx, client)
	srv.HandlerStarted(t, "AwaitGuest")

	var got awaitResult
	select {
	case arrivals <- "Margaret":
		got = harness.Wait(t, result, "AwaitGuest to return once Margaret arrived")
	case got = <-result: // returned without taking a guest: the check below says how
	case <-harness.Timeout():
		harness.Blocked(t, "AwaitGuest to take a guest from the arrivals channel")
	}
	harness.RequireOK(t, got.err, "AwaitGuest while Margaret arrives")
	assert.Equal(t, "Hello, Margaret!", got.reply.GetMessage(), "AwaitGuest's reply")
}

// TestUnary_AwaitGuest_ClientCancels_HandlerStops cancels a call that is
// waiting and checks both ends: the client sees Canceled, and the handler
// notices through its context and returns instead of waiting forever.
func TestUnary_AwaitGuest_ClientCancels_HandlerStops(t *testing.T) {
	harness.See(t)
	client, srv, _ := startGreeter(t)

	ctx, cancel := context.WithCancel(harness.Context(t))
	result := awaitInBackground(ctx, client)
	srv.HandlerStarted(t, "AwaitGuest") // cancel only once the handler is really waiting
	cancel()

	got := harness.Wait(t, result, "the client's AwaitGuest call to return after cancel()")
	harness.AssertCode(t, got.err, codes.Canceled, "AwaitGuest, client side, after cancel()")

	handler := srv.HandlerReturned(t, "AwaitGuest") // fails here if the handler ignores ctx.Done()
	harness.AssertCode(t, handler.Err, codes.Canceled, "AwaitGuest handler's returned error after the client cancelled")
}

// TestUnary_AwaitGuest_DeadlinePasses_BothSidesSeeIt gives the call a short
// deadline. The deadline travels with the request, so the server's context
// ends too, and the handler must return.
func TestUnary_AwaitGuest_DeadlinePasses_BothSidesSeeIt(t *testing.T) {
	harness.See(t)
	// On a very busy machine the client may give up before the server has
	// even read the request; gRPC then drops the call without running the
	// handler, and this attempt says nothing about the server side. Try again
	// with a longer deadline: a handler that ran is always judged.
	for deadline := 50 * time.Millisecond; deadline <= 3200*time.Millisecond; deadline *= 2 {
		client, srv, _ := startGreeter(t)
		ctx, cancel := context.WithTimeout(harness.Context(t), deadline)
		result := awaitInBackground(ctx, client)

		got := harness.Wait(t, result, "the client's AwaitGuest call to return after its deadline")
		cancel()
		harness.AssertCode(t, got.err, codes.DeadlineExceeded, fmt.Sprintf("AwaitGuest with a %v deadline, client side", deadline))
		if !srv.HandlerHasStarted("AwaitGuest") {
			continue
		}

		// The server's context ends either way, but which error it carries
		// is a race: its own copy of the deadline may fire first
		// (DeadlineExceeded), or the client's reset of the stream may arrive
		// first (Canceled).
		handler := srv.HandlerReturned(t, "AwaitGuest")
		assert.Contains(t, []codes.Code{codes.DeadlineExceeded, codes.Canceled}, status.Code(handler.Err),
			"AwaitGuest handler after the deadline: got %s, want codes.DeadlineExceeded or codes.Canceled, "+
				"made with status.FromContextError(ctx.Err())", harness.Describe(handler.Err))
		return
	}
	t.Fatalf("the server never ran AwaitGuest before the client's deadline passed, even with 3.2s: the machine is too busy to judge; run the test again")
}

// statusMessage is the message part of a status error.
func statusMessage(err error) string {
	return status.Convert(err).Message()
}
