// Mistake: LogStream makes one countingStream for every call.
//
// Why it is wrong: Every call then counts into the same fields, and its line
// carries the counts of every call before it (and, with calls at once, the
// wrong stream).
//
// Caught by: TestInterceptors_LogStream_CountsEachDirection

package interceptors

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// LogStream returns a stream server interceptor that writes one line to w
// when each call ends: its full method, the messages received from the
// client and sent to it, and the code the client gets:
//
//	/workbook.interceptors.v1.Telemetry/Watch received=1 sent=3 code=OK
//
// w is shared by every call, so it must be safe for concurrent use (os.Stderr
// is), and each line goes out in one Write, or lines of calls that end
// together could mix. A failed Write does not fail the call: the line is
// lost, the call's status stays what the handler made it.
func LogStream(w io.Writer) grpc.StreamServerInterceptor {
	counted := &countingStream{}
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		counted.ServerStream = ss
		err := handler(srv, counted)
		fmt.Fprintf(w, "%s received=%d sent=%d code=%s\n", info.FullMethod, counted.received.Load(), counted.sent.Load(), codeOf(err))
		return err
	}
}

// LogUnary is LogStream for unary calls: one message each way, or none
// back when the call fails.
func LogUnary(w io.Writer) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		sent := 0
		if err == nil {
			sent = 1
		}
		fmt.Fprintf(w, "%s received=1 sent=%d code=%s\n", info.FullMethod, sent, codeOf(err))
		return resp, err
	}
}

// countingStream is the stream the handler gets from LogStream: every
// message goes through it, and it counts those that went through. A handler
// may send on one goroutine while it receives on another, so the counts are
// atomic.
type countingStream struct {
	grpc.ServerStream
	received, sent atomic.Int64
}

// RecvMsg receives a message and counts it if it arrived.
func (s *countingStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if err == nil {
		s.received.Add(1)
	}
	return err
}

// SendMsg sends a message and counts it if it went out.
func (s *countingStream) SendMsg(m any) error {
	err := s.ServerStream.SendMsg(m)
	if err == nil {
		s.sent.Add(1)
	}
	return err
}

// codeOf is the code the client gets when a handler returns err. gRPC sends
// a status error's own code, and turns any other error into a status with
// status.FromContextError: Canceled or DeadlineExceeded for a context's
// error, Unknown for the rest.
func codeOf(err error) codes.Code {
	if st, ok := status.FromError(err); ok {
		return st.Code()
	}
	return status.FromContextError(err).Code()
}
