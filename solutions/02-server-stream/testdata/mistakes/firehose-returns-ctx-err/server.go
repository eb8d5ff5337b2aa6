// Mistake: Firehose returns ctx.Err() as it is when the client has left.
//
// Why it is wrong: context.Canceled is a plain Go error whose status.Code is
// Unknown; grpc-go converts it only as it writes the status to the client, so
// interceptors, logs and a direct call see no status. status.FromContextError
// turns it into Canceled (or DeadlineExceeded).
//
// Caught by: TestServerStream_Firehose_ContextEnds_StopsBeforeNextSend

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
		if err := checkLine(req.GetLog(), i+1, text); err != nil {
			return err
		}
		if err := stream.Send(&logpb.LogLine{Number: int64(i + 1), Text: text}); err != nil {
			return err // the stream is finished (the client left, for one): stop
		}
	}
	return nil // the client's Recv sees this as io.EOF
}

// checkLine returns nil if line number of log can be sent, and otherwise the
// error that ends the Replay there. Replay calls it just before sending each
// line, so the lines before a bad one reach the client first, and a log too big
// to check up front is never checked up front.
func checkLine(log string, number int, text string) error {
	// A proto string must be valid UTF-8: Send would fail on this line with
	// an unhelpful codes.Internal.
	if !utf8.ValidString(text) {
		return status.Errorf(codes.DataLoss, "%s: line %d is not valid UTF-8", log, number)
	}
	return nil
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
		// The source never runs dry: only the client leaving ends this loop.
		// A Send can succeed just as the client leaves, so look at the
		// context before each one.
		if err := ctx.Err(); err != nil {
			return err
		}
		// Send blocks while the client's flow-control window is full, and
		// fails once the stream has ended: never ignore its error.
		if err := stream.Send(&logpb.LogLine{Number: n, Text: text}); err != nil {
			return err
		}
	}
}
