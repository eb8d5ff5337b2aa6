package pubsub

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/lessons/05-pubsub/pubsubpb"
)

// Server is the Hub service: the hub from hub.go, reached over gRPC.
type Server struct {
	pubsubpb.UnimplementedHubServer

	hub *Hub
}

// NewServer returns a Hub service that delivers hub's events.
func NewServer(hub *Hub) *Server {
	return &Server{hub: hub}
}

// statusFromHub turns an error from the hub into a status error the client
// can act on.
func statusFromHub(err error) error {
	// TODO(lesson 05): Task 7. Map ErrEmptyName, ErrNameTaken and ErrClosed
	// to their codes (see the README's status table); anything else is Internal.
	return status.Error(codes.Unimplemented, "statusFromHub is not implemented yet (lesson 05, task 7)")
}

// Subscribe registers req's name with the hub and streams its events until
// the hub ends the stream (after Goodbye) or the client goes away.
func (s *Server) Subscribe(req *pubsubpb.SubscribeRequest, stream grpc.ServerStreamingServer[pubsubpb.Event]) error {
	// TODO(lesson 05): Task 6. Subscribe to s.hub, unsubscribe when the
	// handler returns, and send events until the queue closes or the client
	// leaves.
	return status.Error(codes.Unimplemented, "Subscribe is not implemented yet (lesson 05, task 6)")
}

// Publish hands req's payload to every current subscriber.
func (s *Server) Publish(ctx context.Context, req *pubsubpb.PublishRequest) (*pubsubpb.PublishReply, error) {
	// TODO(lesson 05): Task 6. Publish to s.hub and report what it said.
	return nil, status.Error(codes.Unimplemented, "Publish is not implemented yet (lesson 05, task 6)")
}

// Shutdown stops gs, a server that serves hub, letting every subscriber hear
// Goodbye. GracefulStop waits for every open stream's handler to return, and
// a Subscribe handler returns only once the hub closes its queue (or its
// client leaves), so the hub must be closed first.
func Shutdown(hub *Hub, gs *grpc.Server) {
	// TODO(lesson 05): Task 8. Close the hub and stop gs, in the right order.
}
