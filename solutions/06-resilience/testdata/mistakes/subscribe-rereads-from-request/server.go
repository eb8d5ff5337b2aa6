// Mistake: Subscribe never moves after past the events it sent.
//
// Why it is wrong: At every change it reads from the request's after_seq again
// and sends everything since then once more: duplicates on every new event.
//
// Caught by: TestResilience_Subscribe_ReplaysThenStreamsLive

package resilience

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/lessons/06-resilience/resiliencepb"
)

// Server is the Feed service over a Log. A restarted server is a new Server
// over the same Log.
type Server struct {
	resiliencepb.UnimplementedFeedServer

	log *Log
}

// NewServer returns a Feed service that serves log.
func NewServer(log *Log) *Server {
	return &Server{log: log}
}

// Subscribe streams every event numbered above req.AfterSeq: those already
// in the log, then each new one as it is appended, until the client leaves.
func (s *Server) Subscribe(req *resiliencepb.SubscribeRequest, stream grpc.ServerStreamingServer[resiliencepb.Event]) error {
	ctx := stream.Context()
	after := req.GetAfterSeq()
	for {
		events, changed, err := s.log.Read(after)
		if err != nil {
			return status.Error(codes.OutOfRange, err.Error())
		}
		for _, ev := range events {
			if err := stream.Send(ev); err != nil {
				return err
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
	}
}

// Publish appends req's payload to the log once per request id.
func (s *Server) Publish(ctx context.Context, req *resiliencepb.PublishRequest) (*resiliencepb.PublishReply, error) {
	if req.GetRequestId() == "" {
		return nil, status.Error(codes.InvalidArgument, "request_id must not be empty: choose one per event, and send it unchanged on every retry")
	}
	seq, duplicate := s.log.Publish(req.GetRequestId(), req.GetPayload())
	return &resiliencepb.PublishReply{Seq: seq, Duplicate: duplicate}, nil
}
