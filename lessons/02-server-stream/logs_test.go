package serverstream_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/grpc-workbook/streaming/internal/harness"
	serverstream "github.com/grpc-workbook/streaming/lessons/02-server-stream"
	"github.com/grpc-workbook/streaming/lessons/02-server-stream/logpb"
)

// The README sections that failing tests point at.
const (
	task1 = "Task 1: Replay a log"
	task2 = "Task 2: Read to the end"
	task3 = "Task 3: Fail partway through"
	task4 = "Task 4: Follow until the client leaves"
	task5 = "Task 5: Stop following early"
	task6 = "Task 6: Range over a stream"
	task7 = "Task 7: Read with a timeout"
	task8 = "Task 8: Keep up with a slow reader"
)

// storedLogs are the logs your Server replays. Nothing writes to them.
var storedLogs = map[string][]string{
	"build.log": {"compiling", "linking", "done"},
	"empty.log": {},
	// Line 3 is not valid UTF-8, so it cannot travel in a proto string.
	"disk.log": {"mounted /", "mounted /home", "\xff\xfe sector 9 unreadable", "unmounted /home"},
}

// startLogs serves your Server in memory and returns a client for it. live
// feeds Follow; the test closes it at the end so that no handler can stay
// blocked on it.
func startLogs(t *testing.T) (logpb.LogServiceClient, *harness.Server, chan<- string) {
	t.Helper()
	live := make(chan string)
	srv := harness.Start(t, func(s *grpc.Server) {
		logpb.RegisterLogServiceServer(s, serverstream.NewServer(storedLogs, live))
	})
	t.Cleanup(func() { close(live) })
	return logpb.NewLogServiceClient(srv.Conn), srv, live
}

// scriptedLogs is the tests' own LogService. Tests of your client code
// (ReadAll, FollowN, All, Reader) talk to it, so they depend on that code
// alone and not on your Server.
type scriptedLogs struct {
	logpb.UnimplementedLogServiceServer

	// Replay sends lines, then returns end (nil ends the call with OK).
	lines []*logpb.LogLine
	end   error

	// Follow sends what arrives on live until live is closed (then it
	// returns end) or the client leaves. With live nil it sends numbered
	// lines without end instead.
	live <-chan *logpb.LogLine
}

func (s *scriptedLogs) Replay(_ *logpb.ReplayRequest, stream grpc.ServerStreamingServer[logpb.LogLine]) error {
	for _, line := range s.lines {
		if err := stream.Send(line); err != nil {
			return err
		}
	}
	return s.end
}

func (s *scriptedLogs) Follow(_ *logpb.FollowRequest, stream grpc.ServerStreamingServer[logpb.LogLine]) error {
	ctx := stream.Context()
	for n := int64(1); ; n++ {
		line := &logpb.LogLine{Number: n, Text: "tick"}
		if s.live != nil {
			var ok bool
			select {
			case line, ok = <-s.live:
				if !ok {
					return s.end
				}
			case <-ctx.Done():
				return status.FromContextError(ctx.Err()).Err()
			}
		}
		if err := stream.Send(line); err != nil {
			return err
		}
	}
}

// startScripted serves logs in memory and returns a client for it.
func startScripted(t *testing.T, logs *scriptedLogs) (logpb.LogServiceClient, *harness.Server) {
	t.Helper()
	srv := harness.Start(t, func(s *grpc.Server) { logpb.RegisterLogServiceServer(s, logs) })
	return logpb.NewLogServiceClient(srv.Conn), srv
}

// numbered makes LogLines numbered from 1.
func numbered(texts ...string) []*logpb.LogLine {
	lines := make([]*logpb.LogLine, len(texts))
	for i, text := range texts {
		lines[i] = &logpb.LogLine{Number: int64(i + 1), Text: text}
	}
	return lines
}

// linesDiff is "" when got and want hold equal lines, and otherwise says
// how they differ. It compares messages with proto.Equal.
func linesDiff(want, got []*logpb.LogLine) string {
	same := len(want) == len(got)
	for i := 0; same && i < len(want); i++ {
		same = proto.Equal(want[i], got[i])
	}
	if same {
		return ""
	}
	return fmt.Sprintf("got %d lines %s\nwant %d lines %s", len(got), show(got), len(want), show(want))
}

// show renders lines compactly: [1:"compiling" 2:"linking"].
func show(lines []*logpb.LogLine) string {
	parts := make([]string, len(lines))
	for i, l := range lines {
		parts[i] = fmt.Sprintf("%d:%q", l.GetNumber(), l.GetText())
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// recvUntilError is the test's own read loop: it calls Recv until it returns
// an error, and returns the lines before it and the error (io.EOF when the
// stream ended with OK).
func recvUntilError(stream grpc.ServerStreamingClient[logpb.LogLine]) ([]*logpb.LogLine, error) {
	var lines []*logpb.LogLine
	for {
		line, err := stream.Recv()
		if err != nil {
			return lines, err
		}
		lines = append(lines, line)
	}
}

// received is one Recv's result.
type received struct {
	line *logpb.LogLine
	err  error
}

// receiveInBackground calls Recv on its own goroutine until it returns an
// error, and hands over every result, the error last. It ends with the stream.
func receiveInBackground(stream grpc.ServerStreamingClient[logpb.LogLine]) <-chan received {
	out := make(chan received, 1024)
	go func() {
		defer close(out)
		for {
			line, err := stream.Recv()
			out <- received{line, err}
			if err != nil {
				return
			}
		}
	}()
	return out
}

// isEOF reports whether err is io.EOF, the stream's "ended with OK".
func isEOF(err error) bool { return errors.Is(err, io.EOF) }

// openFollow opens Follow on client with a child of ctx that the test can
// cancel.
func openFollow(t *testing.T, ctx context.Context, client logpb.LogServiceClient) (grpc.ServerStreamingClient[logpb.LogLine], context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	stream, err := client.Follow(ctx, &logpb.FollowRequest{})
	harness.RequireOK(t, err, "opening Follow", task4)
	return stream, cancel
}

// statusMessage is the message part of a status error.
func statusMessage(err error) string {
	return status.Convert(err).Message()
}

// assertStreamError checks that client-side code handed back the stream's own
// status error, with code want, as Recv returned it.
func assertStreamError(t *testing.T, err error, want codes.Code, call, see string) {
	t.Helper()
	if status.Code(err) == want {
		return
	}
	got := "no error"
	switch {
	case isEOF(err):
		got = "io.EOF"
	case err != nil:
		s := status.Convert(err)
		got = fmt.Sprintf("codes.%s (%q)", s.Code(), s.Message())
	}
	t.Errorf("%s: got %s, want the stream's own error, codes.%s.\nReturn the error Recv returned, as it is: see README.md, %q.", call, got, want, see)
}
