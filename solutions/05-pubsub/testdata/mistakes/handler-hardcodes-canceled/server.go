// Mistake: The Subscribe handler answers the end of its context with a Canceled
// status of its own.
//
// Why it is wrong: The context ends for more than one reason. When the call's
// deadline passed, the code is DeadlineExceeded;
// status.FromContextError(ctx.Err()) reads the reason from the context instead
// of guessing.
//
// Caught by: TestPubSub_Subscribe_DeadlinePasses_DeadlineExceeded

package pubsub

import (
	"context"
	"errors"

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
	switch {
	case errors.Is(err, ErrEmptyName):
		return status.Error(codes.InvalidArgument, "name must not be empty")
	case errors.Is(err, ErrNameTaken):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, ErrClosed):
		return status.Error(codes.Unavailable, "the hub is shutting down; try another server")
	default:
		return status.Errorf(codes.Internal, "hub: %v", err)
	}
}

// Subscribe registers req's name with the hub and streams its events until
// the hub ends the stream (after Goodbye) or the client goes away.
func (s *Server) Subscribe(req *pubsubpb.SubscribeRequest, stream grpc.ServerStreamingServer[pubsubpb.Event]) error {
	sub, err := s.hub.Subscribe(req.GetName())
	if err != nil {
		return statusFromHub(err)
	}
	// However the handler ends, the hub forgets this subscriber and its name
	// is free again.
	defer s.hub.Unsubscribe(sub)

	ctx := stream.Context()
	for {
		select {
		case ev, ok := <-sub.Events():
			if !ok {
				return nil // Close queued Goodbye last; the client sees io.EOF next
			}
			if err := stream.Send(ev); err != nil {
				return err
			}
		case <-ctx.Done():
			return status.Error(codes.Canceled, "the subscriber left")
		}
	}
}

// Publish hands req's payload to every current subscriber.
func (s *Server) Publish(ctx context.Context, req *pubsubpb.PublishRequest) (*pubsubpb.PublishReply, error) {
	seq, n, err := s.hub.Publish(req.GetPayload())
	if err != nil {
		return nil, statusFromHub(err)
	}
	return &pubsubpb.PublishReply{Seq: seq, Subscribers: uint32(n)}, nil
}

// Shutdown stops gs, a server that serves hub, letting every subscriber hear
// Goodbye. GracefulStop waits for every open stream's handler to return, and
// a Subscribe handler returns only once the hub closes its queue (or its
// client leaves), so the hub must be closed first.
func Shutdown(hub *Hub, gs *grpc.Server) {
	hub.Close()
	gs.GracefulStop()
}
