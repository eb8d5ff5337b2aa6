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

// The tests of Task 1 build the in-memory connection by hand, so you can see
// how it works: the listener is the whole "network", the server accepts from
// it, and your DialInMemory makes the client that dials it. Every other test
// lets harness.Start do the same.

// cannedGreeter is the test's own Greeter, so that the dial tests depend on
// Task 1 alone.
type cannedGreeter struct {
	greeterpb.UnimplementedGreeterServer
}

func (cannedGreeter) SayHello(context.Context, *greeterpb.HelloRequest) (*greeterpb.HelloReply, error) {
	return &greeterpb.HelloReply{Message: "hello over bufconn"}, nil
}

// serve starts a gRPC server with cannedGreeter on lis; it stops when the
// test ends.
func serve(t *testing.T, lis *bufconn.Listener) {
	srv := grpc.NewServer()
	greeterpb.RegisterGreeterServer(srv, cannedGreeter{})
	go srv.Serve(lis) //nolint:errcheck // Serve returns when Stop is called.
	t.Cleanup(srv.Stop)
}

// dial calls your DialInMemory(lis), requires a connection, and closes it
// when the test ends.
func dial(t *testing.T, lis *bufconn.Listener) *grpc.ClientConn {
	t.Helper()
	var conn *grpc.ClientConn
	var err error
	harness.Call(t, "DialInMemory(lis)", func() { conn, err = unary.DialInMemory(lis) })
	require.NoError(t, err, "DialInMemory(lis) returned an error")
	require.NotNil(t, conn, "DialInMemory(lis) returned a nil connection and no error")
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestUnary_DialInMemory_ReachesServer dials a running server with your
// DialInMemory and expects a call to reach it.
func TestUnary_DialInMemory_ReachesServer(t *testing.T) {
	lis := bufconn.Listen(1 << 20)
	serve(t, lis)

	conn := dial(t, lis)
	reply, err := greeterpb.NewGreeterClient(conn).SayHello(harness.Context(t), &greeterpb.HelloRequest{Name: "Ada"})
	harness.RequireOK(t, err, "SayHello through your DialInMemory connection")
	assert.Equal(t, "hello over bufconn", reply.GetMessage(), "the reply should come from the test's server")
}

// TestUnary_DialInMemory_BeforeServerStarts_ConnectsOnFirstCall expects
// DialInMemory to return at once although nobody serves lis yet: a client
// does not connect until its first call.
func TestUnary_DialInMemory_BeforeServerStarts_ConnectsOnFirstCall(t *testing.T) {
	lis := bufconn.Listen(1 << 20)
	t.Cleanup(func() { lis.Close() })

	conn := dial(t, lis) // nobody serves lis yet: this must not wait for a server
	serve(t, lis)
	_, err := greeterpb.NewGreeterClient(conn).SayHello(harness.Context(t), &greeterpb.HelloRequest{Name: "Ada"})
	harness.RequireOK(t, err, "the first SayHello, once the server has started")
}
