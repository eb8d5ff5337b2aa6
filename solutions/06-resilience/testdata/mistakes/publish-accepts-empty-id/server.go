// Mistake: Publish accepts an empty request_id.
//
// Why it is wrong: The first publish without an id takes "" for itself, and
// every later one without an id is answered as its duplicate: their events are
// silently dropped.
//
// Caught by: TestResilience_Publish_EmptyRequestID_InvalidArgument

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
			after = ev.GetSeq()
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
	seq, duplicate := s.log.Publish(req.GetRequestId(), req.GetPayload())
	return &resiliencepb.PublishReply{Seq: seq, Duplicate: duplicate}, nil
}
