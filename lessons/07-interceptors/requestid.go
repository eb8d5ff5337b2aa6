package interceptors

import (
	"context"
	"slices"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
)

// RequestIDKey is the metadata key of a call's request id.
const RequestIDKey = "x-request-id"

// Record is how one call ended, as the client saw it.
type Record struct {
	Method    string // the full method, "/workbook.interceptors.v1.Telemetry/Watch"
	RequestID string
	Code      codes.Code
}

// RequestIDs is a pair of client interceptors (Unary and Stream) that give
// every call a request id and record how each call ended. Safe for
// concurrent use: calls end on many goroutines at once.
type RequestIDs struct {
	NewID func() string // makes a new request id

	mu      sync.Mutex
	records []Record
}

// Records returns the calls that have ended, in the order they ended.
// (Given.)
func (r *RequestIDs) Records() []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.records)
}

// withID returns ctx with the call's request id in its outgoing metadata,
// and the id. A ctx that already has one keeps it: the caller is retrying a
// call, and the server must see the same id again.
func (r *RequestIDs) withID(ctx context.Context) (context.Context, string) {
	// TODO(lesson 07): Task 8. Keep the id ctx has
	// (metadata.ValueFromOutgoingContext), or add a new one with r.NewID.
	return ctx, ""
}

// record notes that a call ended with err (io.EOF: the stream ended with OK).
func (r *RequestIDs) record(method, id string, err error) {
	// TODO(lesson 07): Task 8. Append the Record under r.mu.
}

// Unary is a unary client interceptor.
func (r *RequestIDs) Unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	// TODO(lesson 07): Task 8. Give the call its id, invoke, record.
	return invoker(ctx, method, req, reply, cc, opts...)
}

// Stream is a stream client interceptor. A stream has ended when it could
// not be opened, when RecvMsg returns an error (io.EOF: OK), when RecvMsg
// returns the one message of a stream whose server sends one
// (desc.ServerStreams false: it arrives with the OK status), or when SendMsg
// returns an error other than io.EOF (one the client made itself; io.EOF
// only says that the status will come from RecvMsg).
func (r *RequestIDs) Stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	// TODO(lesson 07): Task 8. Give the call its id, open the stream (record
	// a failure), and hand back a recordingStream.
	return streamer(ctx, desc, cc, method, opts...)
}

// recordingStream is the stream the caller gets from Stream: it notes, once,
// when the stream ends.
type recordingStream struct {
	grpc.ClientStream
	serverStreams bool
	once          sync.Once
	end           func(error)
}

// RecvMsg receives a message and notes the end of the stream.
func (s *recordingStream) RecvMsg(m any) error {
	// TODO(lesson 07): Task 8. Note the end of the stream, once.
	return s.ClientStream.RecvMsg(m)
}

// SendMsg sends a message and notes an error the client made itself.
func (s *recordingStream) SendMsg(m any) error {
	// TODO(lesson 07): Task 8. Note an error the client made itself, once.
	return s.ClientStream.SendMsg(m)
}
