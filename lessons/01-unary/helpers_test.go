package unary_test

import (
	"context"
	"sync"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/internal/harness"
	unary "github.com/grpc-workbook/streaming/lessons/01-unary"
	"github.com/grpc-workbook/streaming/lessons/01-unary/greeterpb"
)

// desk is your Server, served in memory, with a client for it and the
// channel its AwaitGuest takes guests from.
type desk struct {
	client   greeterpb.GreeterClient
	srv      *harness.Server
	arrivals chan<- string // send a name: a guest walks in

	closeOnce sync.Once
}

// startGreeter serves your Server in memory for one test. The desk closes
// (arrivals is closed) when the test ends, before the server stops.
func startGreeter(t *testing.T) *desk {
	t.Helper()
	arrivals := make(chan string)
	d := &desk{arrivals: arrivals}
	d.srv = harness.Start(t, func(s *grpc.Server) {
		greeterpb.RegisterGreeterServer(s, unary.NewServer(arrivals))
	})
	d.client = greeterpb.NewGreeterClient(d.srv.Conn)
	t.Cleanup(d.close)
	return d
}

// close closes the desk: no guest will arrive any more. Calling it twice is
// harmless.
func (d *desk) close() {
	d.closeOnce.Do(func() { close(d.arrivals) })
}

// awaitResult is what an AwaitGuest call came back with.
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

// statusMessage is the message part of a status error.
func statusMessage(err error) string {
	return status.Convert(err).Message()
}

// fieldViolations collects the field violations of every
// errdetails.BadRequest in err's status details.
func fieldViolations(err error) []*errdetails.BadRequest_FieldViolation {
	var violations []*errdetails.BadRequest_FieldViolation
	for _, detail := range status.Convert(err).Details() {
		if br, ok := detail.(*errdetails.BadRequest); ok {
			violations = append(violations, br.GetFieldViolations()...)
		}
	}
	return violations
}
