package interceptors_test

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/internal/harness"
	interceptors "github.com/grpc-workbook/streaming/lessons/07-interceptors"
	"github.com/grpc-workbook/streaming/lessons/07-interceptors/interceptorspb"
)

// idBench is a scripted server and a client with your RequestIDs
// interceptors, whose ids are "req-1", "req-2", ...
type idBench struct {
	*bench
	ids   *interceptors.RequestIDs
	made  atomic.Int64 // ids made
	fails chan codes.Code
}

// serveIDs serves a scripted Telemetry service: Latest answers reading 1
// of "summit" and NotFound for anything else; Watch sends readings 1 and 2
// and ends with the code the test puts on fails (OK if none); Upload
// stores nothing and answers how many it received, or PermissionDenied for
// station "locked".
func serveIDs(t *testing.T) *idBench {
	t.Helper()
	ib := &idBench{fails: make(chan codes.Code, 8)}
	ib.ids = &interceptors.RequestIDs{NewID: func() string { return fmt.Sprintf("req-%d", ib.made.Add(1)) }}
	service := &scripted{
		latest: func(ctx context.Context, req *interceptorspb.LatestRequest) (*interceptorspb.Reading, error) {
			if req.GetStation() != "summit" {
				return nil, status.Error(codes.NotFound, "no readings")
			}
			return reading("summit", 1), nil
		},
		watch: func(req *interceptorspb.WatchRequest, stream interceptorspb.Telemetry_WatchServer) error {
			stream.Send(reading(req.GetStation(), 1))
			stream.Send(reading(req.GetStation(), 2))
			select {
			case code := <-ib.fails:
				return status.Error(code, "failed on purpose")
			default:
				return nil
			}
		},
		upload: func(stream interceptorspb.Telemetry_UploadServer) error {
			var n uint32
			for {
				r, err := stream.Recv()
				if err == io.EOF {
					return stream.SendAndClose(&interceptorspb.UploadSummary{Stored: n})
				}
				if err != nil {
					return err
				}
				if r.GetStation() == "locked" {
					return status.Error(codes.PermissionDenied, "locked")
				}
				n++
			}
		},
	}
	ib.bench = serve(t, setup{service: service, dial: []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(ib.ids.Unary),
		grpc.WithChainStreamInterceptor(ib.ids.Stream),
	}})
	return ib
}

// records returns your RequestIDs' records.
func (ib *idBench) records(t *testing.T) []interceptors.Record {
	t.Helper()
	var rs []interceptors.Record
	harness.Call(t, "ids.Records()", func() { rs = ib.ids.Records() })
	return rs
}

// latest calls Latest(station) through your interceptors, which must let
// it return within WaitLimit.
func (ib *idBench) latest(t *testing.T, ctx context.Context, station string) error {
	t.Helper()
	var err error
	harness.Call(t, fmt.Sprintf("Latest(%q) through your interceptors", station), func() {
		_, err = ib.client.Latest(ctx, &interceptorspb.LatestRequest{Station: station})
	})
	return err
}

// watch calls Watch("summit") through your interceptors and receives to
// the end, which must come within WaitLimit.
func (ib *idBench) watch(t *testing.T, ctx context.Context) error {
	t.Helper()
	var err error
	harness.Call(t, `Watch("summit") through your interceptors, to its end`, func() {
		var stream grpc.ServerStreamingClient[interceptorspb.Reading]
		if stream, err = ib.client.Watch(ctx, &interceptorspb.WatchRequest{Station: "summit"}); err != nil {
			return
		}
		for err == nil {
			_, err = stream.Recv()
		}
		if err == io.EOF {
			err = nil
		}
	})
	return err
}

// upload calls Upload with one reading of station through your
// interceptors, which must let it return within WaitLimit.
func (ib *idBench) upload(t *testing.T, ctx context.Context, station string) error {
	t.Helper()
	var err error
	harness.Call(t, fmt.Sprintf("Upload of a reading of %q through your interceptors", station), func() {
		var stream grpc.ClientStreamingClient[interceptorspb.Reading, interceptorspb.UploadSummary]
		if stream, err = ib.client.Upload(ctx); err == nil {
			stream.Send(reading(station, 1))
			_, err = stream.CloseAndRecv()
		}
	})
	return err
}

// seenID is the request ids the next handler received.
func (ib *idBench) seenID(t *testing.T) []string {
	t.Helper()
	return ib.nextHandled(t, "the next handler to run").md.Get(interceptors.RequestIDKey)
}

// TestInterceptors_RequestIDs_EveryCallGetsOne expects every call, of any
// kind, to carry exactly one x-request-id, a new one each time, next to the
// metadata the caller's ctx already carries.
func TestInterceptors_RequestIDs_EveryCallGetsOne(t *testing.T) {
	ib := serveIDs(t)
	ctx := metadata.AppendToOutgoingContext(harness.Context(t), interceptors.AuthorizationKey, "Bearer tok-ada")

	harness.RequireOK(t, ib.latest(t, ctx, "summit"), "Latest")
	h := ib.nextHandled(t, "the Latest handler to run")
	assert.Equal(t, []string{"req-1"}, h.md.Get(interceptors.RequestIDKey), "the request ids Latest's handler received")
	assert.Equal(t, []string{"Bearer tok-ada"}, h.md.Get(interceptors.AuthorizationKey),
		"the caller's own metadata, as the handler received it: append the id with metadata.AppendToOutgoingContext, which keeps it")

	harness.RequireOK(t, ib.watch(t, ctx), "Watch")
	assert.Equal(t, []string{"req-2"}, ib.seenID(t), "the request ids Watch's handler received")

	harness.RequireOK(t, ib.upload(t, ctx, "summit"), "Upload")
	assert.Equal(t, []string{"req-3"}, ib.seenID(t), "the request ids Upload's handler received")
}

// TestInterceptors_RequestIDs_KeepsTheCallersID expects a call whose ctx
// already has an x-request-id to keep it, alone: a caller retrying a call
// sends the same id, so the server can tell it is the same request.
func TestInterceptors_RequestIDs_KeepsTheCallersID(t *testing.T) {
	ib := serveIDs(t)
	ctx := metadata.AppendToOutgoingContext(harness.Context(t), interceptors.RequestIDKey, "retry-42")

	for range 2 { // the first try, and the retry
		harness.RequireOK(t, ib.latest(t, ctx, "summit"), "Latest with x-request-id retry-42")
		assert.Equal(t, []string{"retry-42"}, ib.seenID(t), "the request ids the handler received")
	}
	harness.RequireOK(t, ib.watch(t, ctx), "Watch with x-request-id retry-42")
	assert.Equal(t, []string{"retry-42"}, ib.seenID(t), "the request ids the Watch handler received")

	records := ib.records(t)
	require.Len(t, records, 3, "records of 3 calls")
	for _, r := range records {
		assert.Equal(t, "retry-42", r.RequestID, "the request id recorded for %s", short(r.Method))
	}
	assert.Zero(t, ib.made.Load(), "ids made with NewID when every call had one")
}

// TestInterceptors_RequestIDs_RecordsHowEachCallEnded makes calls that end
// in each way and expects one record for each, in order, with its method,
// id and code: a stream ends OK at io.EOF, and an Upload when its one reply
// arrives.
func TestInterceptors_RequestIDs_RecordsHowEachCallEnded(t *testing.T) {
	ib := serveIDs(t)
	ctx := harness.Context(t)

	ib.latest(t, ctx, "summit")
	ib.latest(t, ctx, "valley")
	ib.watch(t, ctx)
	ib.fails <- codes.Unavailable
	ib.watch(t, ctx)
	ib.upload(t, ctx, "summit")
	ib.upload(t, ctx, "locked")

	want := []interceptors.Record{
		{Method: latestMethod, RequestID: "req-1", Code: codes.OK},
		{Method: latestMethod, RequestID: "req-2", Code: codes.NotFound},
		{Method: watchMethod, RequestID: "req-3", Code: codes.OK},
		{Method: watchMethod, RequestID: "req-4", Code: codes.Unavailable},
		{Method: uploadMethod, RequestID: "req-5", Code: codes.OK},
		{Method: uploadMethod, RequestID: "req-6", Code: codes.PermissionDenied},
	}
	assert.Equal(t, want, ib.records(t), "the records of 2 Latest, 2 Watch and 2 Upload calls")
}

// TestInterceptors_RequestIDs_EachStreamRecordedOnce expects one record per
// stream however often the caller asks after its end, and a record for a
// stream that failed to open or failed in Send with an error the client
// made (here: a message over the call's own size limit).
func TestInterceptors_RequestIDs_EachStreamRecordedOnce(t *testing.T) {
	ib := serveIDs(t)
	ctx := harness.Context(t)

	var stream grpc.ServerStreamingClient[interceptorspb.Reading]
	var err error
	harness.Call(t, `Watch("summit") through your interceptors`, func() {
		stream, err = ib.client.Watch(ctx, &interceptorspb.WatchRequest{Station: "summit"})
	})
	harness.RequireOK(t, err, "Watch")
	recvAll(t, stream)
	harness.Call(t, "stream.Recv() once more after io.EOF", func() { _, err = stream.Recv() })
	assert.ErrorIs(t, err, io.EOF, "Recv after the end")

	var up grpc.ClientStreamingClient[interceptorspb.Reading, interceptorspb.UploadSummary]
	harness.Call(t, "Upload with a 50-byte send limit, through your interceptors", func() {
		up, err = ib.client.Upload(ctx, grpc.MaxCallSendMsgSize(50))
	})
	harness.RequireOK(t, err, "Upload with a 50-byte send limit")
	big := readingOfSize(t, 51)
	harness.Call(t, "up.Send(51 bytes) with a 50-byte limit", func() { err = up.Send(big) })
	harness.AssertCode(t, err, codes.ResourceExhausted, "Send of 51 bytes with a 50-byte limit")
	assert.Len(t, ib.records(t), 2, "records once the Upload's Send failed: an error the client made ends the stream there")
	harness.Call(t, "up.CloseAndRecv() after the Send failed", func() { _, err = up.CloseAndRecv() })
	harness.AssertCode(t, err, codes.ResourceExhausted, "CloseAndRecv after the Send failed")

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	harness.Call(t, `Watch("summit") with a cancelled ctx, through your interceptors`, func() {
		_, err = ib.client.Watch(cancelled, &interceptorspb.WatchRequest{Station: "summit"})
	})
	harness.AssertCode(t, err, codes.Canceled, "Watch with a cancelled ctx")

	want := []interceptors.Record{
		{Method: watchMethod, RequestID: "req-1", Code: codes.OK},
		{Method: uploadMethod, RequestID: "req-2", Code: codes.ResourceExhausted},
		{Method: watchMethod, RequestID: "req-3", Code: codes.Canceled},
	}
	assert.Equal(t, want, ib.records(t), "the records: one per call")
}

// TestInterceptors_RequestIDs_SendAfterTheEnd_RecordsTheStatus expects an
// Upload that the server ended while the client still sends to be recorded
// with the server's code: its Send returns io.EOF, which says only that
// the status is for CloseAndRecv to report.
func TestInterceptors_RequestIDs_SendAfterTheEnd_RecordsTheStatus(t *testing.T) {
	ib := serveIDs(t)
	ctx := harness.Context(t)

	var up grpc.ClientStreamingClient[interceptorspb.Reading, interceptorspb.UploadSummary]
	var err error
	harness.Call(t, "Upload through your interceptors", func() { up, err = ib.client.Upload(ctx) })
	harness.RequireOK(t, err, "Upload")
	harness.Call(t, `up.Send(a reading of "locked")`, func() { err = up.Send(reading("locked", 1)) })
	harness.RequireOK(t, err, `Send of a reading of "locked"`)
	// Header returns once the call has ended: the server refused the
	// reading with PermissionDenied and sent no header before its status.
	harness.Call(t, "up.Header(), which returns once the server has ended the call", func() { _, err = up.Header() })
	harness.Call(t, "up.Send(another reading) after the server ended the call", func() { err = up.Send(reading("summit", 2)) })
	require.ErrorIs(t, err, io.EOF, "Send after the server ended the call (gRPC's io.EOF: ask CloseAndRecv for the status)")
	harness.Call(t, "up.CloseAndRecv()", func() { _, err = up.CloseAndRecv() })
	harness.RequireCode(t, err, codes.PermissionDenied, "CloseAndRecv after the server refused the reading")

	want := []interceptors.Record{{Method: uploadMethod, RequestID: "req-1", Code: codes.PermissionDenied}}
	assert.Equal(t, want, ib.records(t),
		"the records: Send's io.EOF is not the end of the call, CloseAndRecv's error is (record only an error other than io.EOF from SendMsg)")
}

// TestInterceptors_RequestIDs_CallsAtOnce makes 20 calls from 4 goroutines
// at once and expects 20 records, each with its own id (run with -race to
// have records kept without the lock reported).
func TestInterceptors_RequestIDs_CallsAtOnce(t *testing.T) {
	ib := serveIDs(t)
	ctx := harness.Context(t)

	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				ib.client.Latest(ctx, &interceptorspb.LatestRequest{Station: "summit"})
				<-ib.handled
			}
		}()
	}
	wg.Wait()
	records := ib.records(t)
	require.Len(t, records, 20, "records of 20 calls")
	ids := map[string]bool{}
	for _, r := range records {
		ids[r.RequestID] = true
		assert.Equal(t, codes.OK, r.Code, "the code recorded for %s", r.RequestID)
	}
	assert.Len(t, ids, 20, "distinct request ids among the records")
}
