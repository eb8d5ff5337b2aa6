package interceptors_test

import (
	"context"
	"sync"
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

// The tests of Task 2 call your Watch function against a Watch handler of
// their own, which says exactly what it sends.

// startScripted serves a scripted Watch through the harness.
func startScripted(t *testing.T, watch func(*interceptorspb.WatchRequest, interceptorspb.Telemetry_WatchServer) error) (interceptorspb.TelemetryClient, *harness.Server) {
	t.Helper()
	srv := harness.Start(t, func(s *grpc.Server) {
		interceptorspb.RegisterTelemetryServer(s, &scripted{watch: watch})
	})
	return interceptorspb.NewTelemetryClient(srv.Conn), srv
}

// watchResult is what a call of your Watch returned.
type watchResult struct {
	res *interceptors.WatchResult
	err error
}

// callWatch calls your Watch, which must return within WaitLimit.
func callWatch(t *testing.T, ctx context.Context, client interceptorspb.TelemetryClient, station string, after uint64, trace []byte) (*interceptors.WatchResult, error) {
	t.Helper()
	var got watchResult
	harness.Call(t, `Watch(ctx, client, "`+station+`", ...)`, func() {
		got.res, got.err = interceptors.Watch(ctx, client, station, after, trace)
	})
	return got.res, got.err
}

// TestInterceptors_ClientWatch_ReadsHeaderReadingsAndTrailer expects Watch
// to send the trace id as metadata, and to return the station and the trace
// id from the header, every reading, and the count and cursor from the
// trailer.
func TestInterceptors_ClientWatch_ReadsHeaderReadingsAndTrailer(t *testing.T) {
	trace := []byte{0x00, 0x2a, 0xfe, 0xff}
	seen := make(chan metadata.MD, 1)
	client, _ := startScripted(t, func(req *interceptorspb.WatchRequest, stream interceptorspb.Telemetry_WatchServer) error {
		md, _ := metadata.FromIncomingContext(stream.Context())
		seen <- md
		stream.SendHeader(metadata.Pairs(interceptors.StationKey, req.GetStation(), interceptors.TraceKey, string(trace)))
		stream.Send(reading(req.GetStation(), req.GetAfterSeq()+1))
		stream.Send(reading(req.GetStation(), req.GetAfterSeq()+2))
		stream.SetTrailer(metadata.Pairs(interceptors.SentKey, "2", interceptors.CursorKey, cursor(0x0102030405060708)))
		return nil
	})

	res, err := callWatch(t, harness.Context(t), client, "summit", 40, trace)
	harness.RequireOK(t, err, `Watch(ctx, client, "summit", 40, trace)`)
	require.NotNil(t, res, "Watch's result")
	md := harness.Wait(t, seen, "the server to see the call")
	assert.Equal(t, []string{string(trace)}, md.Get(interceptors.TraceKey),
		"the %s the server received: the raw bytes, under that key", interceptors.TraceKey)
	assert.Equal(t, "summit", res.Station, "Station, from the header")
	assert.Equal(t, trace, res.Trace, "Trace, from the header")
	assert.Equal(t, []uint64{41, 42}, seqs(res.Readings), "Readings")
	assert.Equal(t, 2, res.Sent, "Sent, from the trailer")
	assert.Equal(t, uint64(0x0102030405060708), res.Cursor, "Cursor, from the trailer: 8 bytes big-endian")
}

// spyClient is a Telemetry client whose Watch streams report when a
// trailer is read too early, and which let the server finish only once the
// client has started to Recv.
type spyClient struct {
	interceptorspb.TelemetryClient
	release chan struct{}

	mu    sync.Mutex
	early int // Trailer calls before Recv returned an error or io.EOF
}

func (c *spyClient) Watch(ctx context.Context, req *interceptorspb.WatchRequest, opts ...grpc.CallOption) (grpc.ServerStreamingClient[interceptorspb.Reading], error) {
	stream, err := c.TelemetryClient.Watch(ctx, req, opts...)
	if err != nil {
		return nil, err
	}
	return &spyStream{ServerStreamingClient: stream, c: c}, nil
}

type spyStream struct {
	grpc.ServerStreamingClient[interceptorspb.Reading]
	c     *spyClient
	once  sync.Once
	ended bool
}

func (s *spyStream) Recv() (*interceptorspb.Reading, error) {
	s.once.Do(func() { close(s.c.release) })
	r, err := s.ServerStreamingClient.Recv()
	if err != nil {
		s.ended = true
	}
	return r, err
}

func (s *spyStream) Trailer() metadata.MD {
	if !s.ended {
		s.c.mu.Lock()
		s.c.early++
		s.c.mu.Unlock()
	}
	return s.ServerStreamingClient.Trailer()
}

// TestInterceptors_ClientWatch_ReadsTheTrailerOnlyAfterTheEnd expects Watch
// to read the trailer only once Recv has returned io.EOF or an error: until
// the stream has ended there is no trailer, and Trailer returns an empty MD.
// The server here sends its readings and trailer only after Watch started
// to receive.
func TestInterceptors_ClientWatch_ReadsTheTrailerOnlyAfterTheEnd(t *testing.T) {
	release := make(chan struct{})
	client, _ := startScripted(t, func(req *interceptorspb.WatchRequest, stream interceptorspb.Telemetry_WatchServer) error {
		stream.SendHeader(metadata.Pairs(interceptors.StationKey, req.GetStation()))
		select {
		case <-release:
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
		stream.Send(reading(req.GetStation(), 1))
		stream.SetTrailer(metadata.Pairs(interceptors.SentKey, "1", interceptors.CursorKey, cursor(1)))
		return nil
	})
	spy := &spyClient{TelemetryClient: client, release: release}

	res, err := callWatch(t, harness.Context(t), spy, "summit", 0, nil)
	harness.RequireOK(t, err, `Watch(ctx, client, "summit", 0, nil)`)
	require.NotNil(t, res, "Watch's result")
	assert.Zero(t, spy.early, "Trailer calls before Recv returned io.EOF or an error: read the trailer only then, it is empty before")
	assert.Equal(t, 1, res.Sent, "Sent, from the trailer")
	assert.Equal(t, uint64(1), res.Cursor, "Cursor, from the trailer")
}

// TestInterceptors_ClientWatch_BinaryValuesAreRawBytes has the server echo
// trace ids and send a cursor whose bytes are also valid base64 text, and
// expects Watch to take them as they come: gRPC has already decoded the
// base64 of every "-bin" value, so decoding again corrupts them.
func TestInterceptors_ClientWatch_BinaryValuesAreRawBytes(t *testing.T) {
	client, _ := startScripted(t, func(req *interceptorspb.WatchRequest, stream interceptorspb.Telemetry_WatchServer) error {
		md, _ := metadata.FromIncomingContext(stream.Context())
		stream.SetHeader(metadata.MD{interceptors.TraceKey: md.Get(interceptors.TraceKey)}) // the echo
		stream.SendHeader(metadata.Pairs(interceptors.StationKey, req.GetStation()))
		stream.SetTrailer(metadata.Pairs(interceptors.SentKey, "0", interceptors.CursorKey, "AAAAAAAB"))
		return nil
	})

	for _, trace := range []string{"q83v", "\x00\xff"} {
		res, err := callWatch(t, harness.Context(t), client, "summit", 0, []byte(trace))
		harness.RequireOK(t, err, `Watch(ctx, client, "summit", 0, trace)`)
		require.NotNil(t, res, "Watch's result")
		assert.Equal(t, []byte(trace), res.Trace,
			"Trace: the bytes the server echoed, which are the bytes Watch sent; neither encode nor decode base64 yourself")
		assert.Equal(t, uint64(0x4141414141414142), res.Cursor, `Cursor from the 8 raw bytes "AAAAAAAB"`)
	}
}

// TestInterceptors_ClientWatch_KeepsTheCallersMetadata expects Watch to add
// the trace id to the metadata the caller's ctx already carries, not to
// replace it.
func TestInterceptors_ClientWatch_KeepsTheCallersMetadata(t *testing.T) {
	seen := make(chan metadata.MD, 1)
	client, _ := startScripted(t, func(req *interceptorspb.WatchRequest, stream interceptorspb.Telemetry_WatchServer) error {
		md, _ := metadata.FromIncomingContext(stream.Context())
		seen <- md
		return nil
	})

	ctx := metadata.AppendToOutgoingContext(harness.Context(t), "x-request-id", "r-7")
	_, err := callWatch(t, ctx, client, "summit", 0, []byte{7})
	harness.RequireOK(t, err, `Watch(ctx with x-request-id, client, "summit", 0, trace)`)
	md := harness.Wait(t, seen, "the server to see the call")
	assert.Equal(t, []string{"r-7"}, md.Get("x-request-id"),
		"the caller's own metadata, as the server received it: use metadata.AppendToOutgoingContext, which keeps it")
	assert.Equal(t, []string{"\x07"}, md.Get(interceptors.TraceKey), "the trace id, as the server received it")
}

// TestInterceptors_ClientWatch_NoTrace_SendsNone expects Watch to send no
// trace id when it has none (nil or empty).
func TestInterceptors_ClientWatch_NoTrace_SendsNone(t *testing.T) {
	seen := make(chan metadata.MD, 2)
	client, _ := startScripted(t, func(req *interceptorspb.WatchRequest, stream interceptorspb.Telemetry_WatchServer) error {
		md, _ := metadata.FromIncomingContext(stream.Context())
		seen <- md
		return nil
	})

	for _, trace := range [][]byte{nil, {}} {
		res, err := callWatch(t, harness.Context(t), client, "summit", 0, trace)
		harness.RequireOK(t, err, `Watch(ctx, client, "summit", 0, no trace)`)
		require.NotNil(t, res, "Watch's result")
		md := harness.Wait(t, seen, "the server to see the call")
		assert.Empty(t, md.Get(interceptors.TraceKey), "the %s the server received for the trace id %#v", interceptors.TraceKey, trace)
		assert.Nil(t, res.Trace, "Trace when the header has none")
	}
}

// TestInterceptors_ClientWatch_StreamFails_ReturnsWhatArrivedAndTheError
// expects Watch, when the stream fails after two readings, to return them,
// the header and the trailer, together with the stream's status.
func TestInterceptors_ClientWatch_StreamFails_ReturnsWhatArrivedAndTheError(t *testing.T) {
	client, _ := startScripted(t, func(req *interceptorspb.WatchRequest, stream interceptorspb.Telemetry_WatchServer) error {
		stream.SendHeader(metadata.Pairs(interceptors.StationKey, req.GetStation()))
		stream.Send(reading(req.GetStation(), 1))
		stream.Send(reading(req.GetStation(), 2))
		stream.SetTrailer(metadata.Pairs(interceptors.SentKey, "2", interceptors.CursorKey, cursor(2)))
		return status.Error(codes.Unavailable, "the station's link went down")
	})

	res, err := callWatch(t, harness.Context(t), client, "summit", 0, nil)
	harness.RequireCode(t, err, codes.Unavailable, "Watch of a stream that failed after two readings")
	require.NotNil(t, res, "Watch's result with the error: what arrived before the stream failed")
	assert.Equal(t, "summit", res.Station, "Station")
	assert.Equal(t, []uint64{1, 2}, seqs(res.Readings), "Readings")
	assert.Equal(t, 2, res.Sent, "Sent: the trailer comes with an error status too")
	assert.Equal(t, uint64(2), res.Cursor, "Cursor")
}

// TestInterceptors_ClientWatch_UnknownStation_NotFound expects Watch to
// return the status of a stream that failed before any header, such as
// codes.NotFound: Header then returns nil and no error, and Recv the status.
func TestInterceptors_ClientWatch_UnknownStation_NotFound(t *testing.T) {
	client, _ := startScripted(t, func(req *interceptorspb.WatchRequest, stream interceptorspb.Telemetry_WatchServer) error {
		return status.Errorf(codes.NotFound, "no station is called %q", req.GetStation())
	})

	_, err := callWatch(t, harness.Context(t), client, "moon", 0, nil)
	harness.RequireCode(t, err, codes.NotFound, `Watch(ctx, client, "moon", 0, nil)`)
}

// TestInterceptors_ClientWatch_Trailer_MissingZeroAndMalformed expects
// Watch to leave Sent and Cursor 0 when the trailer lacks them, to read 0
// as 0, and to return an error when a value cannot be read (the readings
// still returned).
func TestInterceptors_ClientWatch_Trailer_MissingZeroAndMalformed(t *testing.T) {
	cases := []struct {
		desc    string
		trailer metadata.MD
		bad     bool
	}{
		{"no trailer", nil, false},
		{"zero count, zero cursor", metadata.Pairs(interceptors.SentKey, "0", interceptors.CursorKey, cursor(0)), false},
		{"count that is not a number", metadata.Pairs(interceptors.SentKey, "three", interceptors.CursorKey, cursor(3)), true},
		{"cursor of 4 bytes", metadata.Pairs(interceptors.SentKey, "3", interceptors.CursorKey, "\x00\x00\x00\x03"), true},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			client, _ := startScripted(t, func(req *interceptorspb.WatchRequest, stream interceptorspb.Telemetry_WatchServer) error {
				stream.Send(reading(req.GetStation(), 1))
				stream.SetTrailer(tc.trailer)
				return nil
			})
			res, err := callWatch(t, harness.Context(t), client, "summit", 0, nil)
			require.NotNil(t, res, "Watch's result (%s)", tc.desc)
			assert.Equal(t, []uint64{1}, seqs(res.Readings), "Readings (%s)", tc.desc)
			if tc.bad {
				assert.Error(t, err, "Watch's error for a trailer with a %s", tc.desc)
				return
			}
			harness.RequireOK(t, err, "Watch with "+tc.desc)
			assert.Zero(t, res.Sent, "Sent (%s)", tc.desc)
			assert.Zero(t, res.Cursor, "Cursor (%s)", tc.desc)
		})
	}
}

// TestInterceptors_ClientWatch_CallerCancels_ReturnsCanceled cancels the
// caller's context while the server still streams and expects Watch to
// return codes.Canceled at once, and the server's handler to end: the
// call must be made with the caller's ctx.
func TestInterceptors_ClientWatch_CallerCancels_ReturnsCanceled(t *testing.T) {
	started := make(chan struct{}, 1)
	client, srv := startScripted(t, func(req *interceptorspb.WatchRequest, stream interceptorspb.Telemetry_WatchServer) error {
		started <- struct{}{}
		stream.Send(reading(req.GetStation(), 1))
		<-stream.Context().Done()
		return status.FromContextError(stream.Context().Err()).Err()
	})

	ctx, cancel := context.WithCancel(harness.Context(t))
	done := make(chan error, 1)
	go func() {
		_, err := interceptors.Watch(ctx, client, "summit", 0, nil)
		done <- err
	}()
	waitWhileRunning(t, started, "the server's Watch handler started", done, `Watch(ctx, client, "summit", 0, nil)`)
	cancel()

	err := harness.Wait(t, done, "Watch to return once its caller cancelled")
	harness.AssertCode(t, err, codes.Canceled, "Watch after its caller cancelled")
	srv.HandlerReturned(t, "Watch")
}
