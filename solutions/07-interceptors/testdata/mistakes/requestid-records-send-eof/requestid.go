// Mistake: recordingStream records at any SendMsg error, io.EOF too.
//
// Why it is wrong: SendMsg's io.EOF says only that the call is over and
// that RecvMsg has its status. Recorded there, a call the server refused
// (PermissionDenied) is recorded as OK, the code record gives io.EOF, and
// the once then keeps CloseAndRecv's real status out of the record.
//
// Caught by: TestInterceptors_RequestIDs_SendAfterTheEnd_RecordsTheStatus

package interceptors

import (
	"context"
	"errors"
	"io"
	"slices"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
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
	if ids := metadata.ValueFromOutgoingContext(ctx, RequestIDKey); len(ids) > 0 {
		return ctx, ids[0]
	}
	id := r.NewID()
	return metadata.AppendToOutgoingContext(ctx, RequestIDKey, id), id
}

// record notes that a call ended with err (io.EOF: the stream ended with OK).
func (r *RequestIDs) record(method, id string, err error) {
	code := status.Code(err)
	if errors.Is(err, io.EOF) {
		code = codes.OK
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, Record{Method: method, RequestID: id, Code: code})
}

// Unary is a unary client interceptor.
func (r *RequestIDs) Unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	ctx, id := r.withID(ctx)
	err := invoker(ctx, method, req, reply, cc, opts...)
	r.record(method, id, err)
	return err
}

// Stream is a stream client interceptor. A stream has ended when it could
// not be opened, when RecvMsg returns an error (io.EOF: OK), when RecvMsg
// returns the one message of a stream whose server sends one
// (desc.ServerStreams false: it arrives with the OK status), or when SendMsg
// returns an error other than io.EOF (one the client made itself; io.EOF
// only says that the status will come from RecvMsg).
func (r *RequestIDs) Stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	ctx, id := r.withID(ctx)
	cs, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		r.record(method, id, err)
		return nil, err
	}
	return &recordingStream{
		ClientStream:  cs,
		serverStreams: desc.ServerStreams,
		end:           func(err error) { r.record(method, id, err) },
	}, nil
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
	err := s.ClientStream.RecvMsg(m)
	if err != nil || !s.serverStreams {
		s.once.Do(func() { s.end(err) })
	}
	return err
}

// SendMsg sends a message and notes an error the client made itself.
func (s *recordingStream) SendMsg(m any) error {
	err := s.ClientStream.SendMsg(m)
	if err != nil {
		s.once.Do(func() { s.end(err) })
	}
	return err
}
