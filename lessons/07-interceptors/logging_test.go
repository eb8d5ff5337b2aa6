package interceptors_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/internal/harness"
	interceptors "github.com/grpc-workbook/streaming/lessons/07-interceptors"
	"github.com/grpc-workbook/streaming/lessons/07-interceptors/interceptorspb"
)

const (
	watchMethod  = interceptorspb.Telemetry_Watch_FullMethodName
	uploadMethod = interceptorspb.Telemetry_Upload_FullMethodName
	latestMethod = interceptorspb.Telemetry_Latest_FullMethodName
)

// serveLogged serves the lesson's Server with your logging interceptors
// around it, writing to the returned log.
func serveLogged(t *testing.T) (*bench, *logLines) {
	t.Helper()
	log := newLog()
	b := serve(t, setup{server: []grpc.ServerOption{
		grpc.ChainStreamInterceptor(interceptors.LogStream(log)),
		grpc.ChainUnaryInterceptor(interceptors.LogUnary(log)),
	}})
	return b, log
}

// upload sends readings on one Upload call and returns its summary.
func upload(t *testing.T, ctx context.Context, client interceptorspb.TelemetryClient, rs ...*interceptorspb.Reading) (*interceptorspb.UploadSummary, error) {
	t.Helper()
	stream, err := client.Upload(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		if err := stream.Send(r); err != nil {
			break // the status comes from CloseAndRecv
		}
	}
	return stream.CloseAndRecv()
}

// TestInterceptors_LogStream_CountsEachDirection expects one line per stream,
// once it ended, with the messages received from the client and sent to it:
// a Watch receives its request and sends the readings, an Upload receives
// the readings and sends the summary.
func TestInterceptors_LogStream_CountsEachDirection(t *testing.T) {
	b, log := serveLogged(t)
	ctx := harness.Context(t)

	stream, err := b.client.Watch(ctx, &interceptorspb.WatchRequest{Station: "summit"})
	harness.RequireOK(t, err, `Watch("summit")`)
	f := b.stations.nextFollow(t)
	f.send(t, reading("summit", 1), reading("summit", 2))
	f.stop()
	_, err = recvAll(t, stream)
	harness.RequireOK(t, err, `Watch("summit") to its end`)
	assert.Equal(t, watchMethod+" received=1 sent=2 code=OK", log.written(t, "the Watch", statusReceived), "the log line of a Watch that sent 2 readings")

	_, err = upload(t, ctx, b.client, reading("summit", 1), reading("summit", 2), reading("summit", 3))
	harness.RequireOK(t, err, "Upload of 3 readings")
	assert.Equal(t, uploadMethod+" received=3 sent=1 code=OK", log.written(t, "the Upload", statusReceived), "the log line of an Upload of 3 readings")
	log.none(t, "one line per call")
}

// TestInterceptors_LogStream_FailedCall_LoggedAndReturned expects a call
// whose handler fails to be logged with its code, and the client to get
// the handler's error as it was: an interceptor that logs must not change
// the outcome.
func TestInterceptors_LogStream_FailedCall_LoggedAndReturned(t *testing.T) {
	b, log := serveLogged(t)

	stream, err := b.client.Watch(harness.Context(t), &interceptorspb.WatchRequest{Station: "moon"})
	harness.RequireOK(t, err, `Watch("moon")`)
	_, err = stream.Recv()
	harness.AssertCode(t, err, codes.NotFound, `Watch("moon") through the logging interceptor`)
	assert.Equal(t, watchMethod+" received=1 sent=0 code=NotFound", log.written(t, "the failed Watch", statusReceived), "the log line of a Watch of an unknown station")
}

// fakeServerStream is a server stream for calling an interceptor directly:
// RecvMsg yields its messages, then io.EOF; SendMsg fails from the send
// numbered failFrom on (0: never).
type fakeServerStream struct {
	grpc.ServerStream
	ctx      context.Context
	mu       sync.Mutex
	incoming int
	sends    int
	failFrom int
}

func (s *fakeServerStream) Context() context.Context { return s.ctx }

func (s *fakeServerStream) RecvMsg(any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.incoming == 0 {
		return io.EOF
	}
	s.incoming--
	return nil
}

func (s *fakeServerStream) SendMsg(any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sends++
	if s.failFrom > 0 && s.sends >= s.failFrom {
		return status.Error(codes.Unavailable, "the client is gone")
	}
	return nil
}

// TestInterceptors_LogStream_LogsTheCodeTheClientGets calls LogStream
// directly with handlers that return each kind of error, and expects the
// line to say the code the client will get (gRPC sends a context's error as
// Canceled or DeadlineExceeded, any other plain error as Unknown) and the
// interceptor to return the handler's error as it is.
func TestInterceptors_LogStream_LogsTheCodeTheClientGets(t *testing.T) {
	cases := []struct {
		err  error
		code codes.Code
	}{
		{nil, codes.OK},
		{status.Error(codes.NotFound, "no such station"), codes.NotFound},
		{context.Canceled, codes.Canceled},
		{fmt.Errorf("waiting for readings: %w", context.DeadlineExceeded), codes.DeadlineExceeded},
		{errors.New("disk full"), codes.Unknown},
	}
	for _, tc := range cases {
		log := newLog()
		stream := &fakeServerStream{ctx: harness.Context(t)}
		handler := func(srv any, ss grpc.ServerStream) error { return tc.err }
		call := fmt.Sprintf("LogStream(log) around a handler that returns %v", tc.err)
		var err error
		harness.Call(t, call, func() {
			err = interceptors.LogStream(log)(nil, stream, &grpc.StreamServerInfo{FullMethod: "/test/M"}, handler)
		})
		assert.Equal(t, tc.err, err, "%s: the interceptor's error must be the handler's, unchanged", call)
		assert.Equal(t, "/test/M received=0 sent=0 code="+tc.code.String(), log.written(t, "the call", "LogStream returned"), "%s: the log line", call)
	}
}

// TestInterceptors_LogStream_CountsOnlyWhatWentThrough calls LogStream
// directly with a handler that receives until io.EOF and sends three
// messages, the last of which fails, and expects only the messages that
// arrived or went out to be counted.
func TestInterceptors_LogStream_CountsOnlyWhatWentThrough(t *testing.T) {
	log := newLog()
	stream := &fakeServerStream{ctx: harness.Context(t), incoming: 2, failFrom: 3}
	handler := func(srv any, ss grpc.ServerStream) error {
		for ss.RecvMsg(nil) == nil { // 2 messages, then io.EOF
		}
		for range 3 {
			if err := ss.SendMsg(nil); err != nil {
				return err
			}
		}
		return nil
	}
	harness.Call(t, "LogStream(log) around the handler", func() {
		interceptors.LogStream(log)(nil, stream, &grpc.StreamServerInfo{FullMethod: "/test/M"}, handler)
	})
	assert.Equal(t, "/test/M received=2 sent=2 code=Unavailable", log.written(t, "the call", "LogStream returned"),
		"the log line: io.EOF is no message, and a Send that failed sent nothing")
}

// TestInterceptors_LogUnary_OneLinePerCall expects a unary call to be
// logged with its one request, its reply (none when it fails) and its code,
// and the client to get the handler's result as it was.
func TestInterceptors_LogUnary_OneLinePerCall(t *testing.T) {
	b, log := serveLogged(t)
	ctx := harness.Context(t)
	b.stations.setLatest(reading("summit", 9))

	r, err := b.client.Latest(ctx, &interceptorspb.LatestRequest{Station: "summit"})
	harness.RequireOK(t, err, `Latest("summit")`)
	assert.Equal(t, uint64(9), r.GetSeq(), "the reading Latest answered")
	assert.Equal(t, latestMethod+" received=1 sent=1 code=OK", log.written(t, "the Latest", statusReceived), "the log line of a Latest that succeeded")

	_, err = b.client.Latest(ctx, &interceptorspb.LatestRequest{Station: "valley"})
	harness.AssertCode(t, err, codes.NotFound, `Latest("valley"), which has no readings`)
	assert.Equal(t, latestMethod+" received=1 sent=0 code=NotFound", log.written(t, "the failed Latest", statusReceived), "the log line of a Latest that failed")
}

// TestInterceptors_Log_CallsAtOnce_OneWholeLineEach makes calls from four
// goroutines at once and expects one whole line for each: every call shares
// the writer, and each has its own counts.
func TestInterceptors_Log_CallsAtOnce_OneWholeLineEach(t *testing.T) {
	b, log := serveLogged(t)
	ctx := harness.Context(t)
	b.stations.setLatest(reading("summit", 1))

	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				b.client.Latest(ctx, &interceptorspb.LatestRequest{Station: "summit"})
				if stream, err := b.client.Watch(ctx, &interceptorspb.WatchRequest{Station: "moon"}); err == nil {
					stream.Recv()
				}
			}
		}()
	}
	wg.Wait()
	want := map[string]int{
		latestMethod + " received=1 sent=1 code=OK":      12,
		watchMethod + " received=1 sent=0 code=NotFound": 12,
	}
	got := map[string]int{}
	for i := range 24 { // every call has its status: every line is there
		got[log.written(t, fmt.Sprintf("call %d of 24", i+1), statusReceived)]++
	}
	assert.Equal(t, want, got, "the log lines of 12 Latest and 12 Watch calls made from 4 goroutines at once")
}
