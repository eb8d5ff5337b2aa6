// Mistake: sending a line that is not UTF-8: gRPC fails with codes.Internal,
// not DataLoss.
//
// Caught by: TestServerStream_Replay_BadLine_EarlierLinesArriveFirst

// Package serverstream is lesson 02 of the workbook: a log service whose
// answers are server streams. README.md in this folder tells the story and
// lists the tasks; each TODO below names the task it belongs to.
package serverstream

import (
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/lessons/02-server-stream/logpb"
)

// MaxLineBytes is the longest line Firehose makes.
const MaxLineBytes = 64 << 10

// Server is the log service.
type Server struct {
	logpb.UnimplementedLogServiceServer

	logs map[string][]string // stored logs by name; Replay reads them
	live <-chan string       // lines as they are written to the live log; Follow reads it
}

// NewServer returns a log service that replays logs and follows live.
// Nothing writes to logs after NewServer, so reading it needs no lock.
func NewServer(logs map[string][]string, live <-chan string) *Server {
	return &Server{logs: logs, live: live}
}

// Replay sends the stored lines of req's log, numbered from 1, then returns.
func (s *Server) Replay(req *logpb.ReplayRequest, stream grpc.ServerStreamingServer[logpb.LogLine]) error {
	lines, ok := s.logs[req.GetLog()]
	if !ok {
		return status.Errorf(codes.NotFound, "no log named %q", req.GetLog())
	}
	for i, text := range lines {
		// A proto string must be valid UTF-8. Check each line as its turn
		// comes: the lines before a bad one are worth having, and a real log
		// may be too big to check before sending anything.
		_ = utf8.ValidString
		if err := stream.Send(&logpb.LogLine{Number: int64(i + 1), Text: text}); err != nil {
			return err // the stream is broken (the client left): stop
		}
	}
	return nil // returning nil is what the client's Recv sees as io.EOF
}

// Follow sends each line written to the live log, numbered from 1, until the
// client leaves.
func (s *Server) Follow(req *logpb.FollowRequest, stream grpc.ServerStreamingServer[logpb.LogLine]) error {
	ctx := stream.Context()
	for n := int64(1); ; n++ {
		select {
		case text, ok := <-s.live:
			if !ok {
				return nil // the live log was closed: the stream ends normally
			}
			if err := stream.Send(&logpb.LogLine{Number: n, Text: text}); err != nil {
				return err
			}
		case <-ctx.Done():
			// The client cancelled, its deadline passed, or the server is
			// stopping. Return now instead of waiting for the next line.
			return status.FromContextError(ctx.Err()).Err()
		}
	}
}

// Firehose sends made-up lines of req.LineBytes bytes, numbered from 1, as
// fast as the client takes them, until the client leaves.
func (s *Server) Firehose(req *logpb.FirehoseRequest, stream grpc.ServerStreamingServer[logpb.LogLine]) error {
	size := req.GetLineBytes()
	if size < 1 || size > MaxLineBytes {
		return status.Errorf(codes.InvalidArgument, "line_bytes is %d; it must be from 1 to %d", size, MaxLineBytes)
	}
	text := strings.Repeat("x", int(size))
	ctx := stream.Context()
	for n := int64(1); ; n++ {
		// The source never runs dry, so only the context can end the loop.
		// Checking it before each Send stops the producer even if Send had
		// not noticed yet.
		if err := ctx.Err(); err != nil {
			return status.FromContextError(err).Err()
		}
		// Send blocks while the client's flow-control window is full, and
		// returns an error once the client has gone: never ignore it.
		if err := stream.Send(&logpb.LogLine{Number: n, Text: text}); err != nil {
			return err
		}
	}
}
