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
	// TODO(lesson 06): Task 3. Loop: s.log.Read(after) (an error is
	// codes.OutOfRange), Send each event and move after to it, then wait for
	// the log to change or the stream's context to end.
	return status.Error(codes.Unimplemented, "Subscribe is not implemented yet (lesson 06, task 3)")
}

// Publish appends req's payload to the log once per request id.
func (s *Server) Publish(ctx context.Context, req *resiliencepb.PublishRequest) (*resiliencepb.PublishReply, error) {
	// TODO(lesson 06): Task 5. Refuse an empty request_id with
	// codes.InvalidArgument; reply with what s.log.Publish returns.
	return nil, status.Error(codes.Unimplemented, "Publish is not implemented yet (lesson 06, task 5)")
}
