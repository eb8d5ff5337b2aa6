package unary_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/test/bufconn"

	"github.com/grpc-workbook/streaming/internal/harness"
	unary "github.com/grpc-workbook/streaming/lessons/01-unary"
	"github.com/grpc-workbook/streaming/lessons/01-unary/greeterpb"
)

// cannedGreeter is the test's own Greeter, so that the dial test depends on
// Task 1 alone.
type cannedGreeter struct {
	greeterpb.UnimplementedGreeterServer
}

func (cannedGreeter) SayHello(context.Context, *greeterpb.HelloRequest) (*greeterpb.HelloReply, error) {
	return &greeterpb.HelloReply{Message: "hello over bufconn"}, nil
}

// TestUnary_DialInMemory_ReachesServer builds the server half of an in-memory
// connection by hand (every other test lets the harness do it) and dials it
// with your DialInMemory.
func TestUnary_DialInMemory_ReachesServer(t *testing.T) {
	// The listener is the whole "network": the server accepts from it and the
	// client's dialer calls lis.DialContext to reach the server.
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	greeterpb.RegisterGreeterServer(srv, cannedGreeter{})
	go srv.Serve(lis) //nolint:errcheck // Serve returns when Stop is called.
	t.Cleanup(srv.Stop)

	conn, err := unary.DialInMemory(lis)
	require.NoError(t, err, "DialInMemory(lis) returned an error")
	require.NotNil(t, conn, "DialInMemory(lis) returned a nil connection and no error")
	t.Cleanup(func() { conn.Close() })

	reply, err := greeterpb.NewGreeterClient(conn).SayHello(harness.Context(t), &greeterpb.HelloRequest{Name: "Ada"})
	harness.RequireOK(t, err, "SayHello through your DialInMemory connection")
	assert.Equal(t, "hello over bufconn", reply.GetMessage(), "the reply should come from the test's server")
}
