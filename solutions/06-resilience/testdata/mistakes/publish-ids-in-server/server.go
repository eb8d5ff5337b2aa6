// Mistake: Publish remembers request ids in the Server, not in the Log.
//
// Why it is wrong: A restarted server is a new Server: a retry that reaches it
// after the restart is not recognised, and the event is published twice. The
// ids must live as long as the events they describe.
//
// Caught by: TestResilience_Publish_ReplyLost_RetryPublishesOnce

package resilience

import (
	"context"
	"sync"

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

	mu  sync.Mutex
	ids map[string]uint64 // request id → seq
}

// NewServer returns a Feed service that serves log.
func NewServer(log *Log) *Server {
	return &Server{log: log, ids: map[string]uint64{}}
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
	if req.GetRequestId() == "" {
		return nil, status.Error(codes.InvalidArgument, "request_id must not be empty: choose one per event, and send it unchanged on every retry")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seq, duplicate := s.ids[req.GetRequestId()]
	if !duplicate {
		seq = s.log.Append(req.GetPayload())
		s.ids[req.GetRequestId()] = seq
	}
	return &resiliencepb.PublishReply{Seq: seq, Duplicate: duplicate}, nil
}
