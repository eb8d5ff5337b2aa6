// Package serverstream is lesson 02 of the workbook: a log service whose
// answers are server streams. README.md in this folder tells the story and
// lists the tasks; each TODO below names the task it belongs to.
package serverstream

import (
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
	// TODO(lesson 02): Task 1. Look the log up (NotFound if it is missing).
	// For each line, call checkLine (it accepts every line until Task 3),
	// then Send it as a *logpb.LogLine. Return nil at the end.
	return status.Error(codes.Unimplemented, "Replay is not implemented yet (lesson 02, task 1)")
}

// checkLine returns nil if line number of log can be sent, and otherwise the
// error that ends the Replay there. Replay calls it just before sending each
// line, so the lines before a bad one reach the client first, and a log too big
// to check up front is never checked up front.
func checkLine(log string, number int, text string) error {
	// TODO(lesson 02): Task 3. A line that is not valid UTF-8 cannot be sent:
	// return codes.DataLoss, with a message naming the log and the line.
	return nil
}

// Follow sends each line written to the live log, numbered from 1, until the
// client leaves.
func (s *Server) Follow(req *logpb.FollowRequest, stream grpc.ServerStreamingServer[logpb.LogLine]) error {
	// TODO(lesson 02): Task 4. Wait for a line on s.live or for
	// stream.Context() to end, whichever comes first; Send lines, and return
	// once the client has left.
	return status.Error(codes.Unimplemented, "Follow is not implemented yet (lesson 02, task 4)")
}

// Firehose sends made-up lines of req.LineBytes bytes, numbered from 1, as
// fast as the client takes them, until the client leaves.
func (s *Server) Firehose(req *logpb.FirehoseRequest, stream grpc.ServerStreamingServer[logpb.LogLine]) error {
	// TODO(lesson 02): Task 8. Reject a line_bytes outside 1..MaxLineBytes,
	// then Send numbered lines until the stream's context ends or Send fails.
	return status.Error(codes.Unimplemented, "Firehose is not implemented yet (lesson 02, task 8)")
}
