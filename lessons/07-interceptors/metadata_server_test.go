package interceptors_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
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

// The tests of Task 1 call your Server's Watch with a client of their own,
// which reads the header and the trailer by hand.

// startWatch serves your Server over stations "summit" and "valley" through
// the harness.
func startWatch(t *testing.T) (interceptorspb.TelemetryClient, *harness.Server, *fakeStations) {
	t.Helper()
	stations := newStations("summit", "valley")
	srv := harness.Start(t, func(s *grpc.Server) { interceptorspb.RegisterTelemetryServer(s, stations.server()) })
	return interceptorspb.NewTelemetryClient(srv.Conn), srv, stations
}

// header waits for the stream's header.
func header(t *testing.T, stream grpc.ServerStreamingClient[interceptorspb.Reading], what string) metadata.MD {
	t.Helper()
	got := make(chan metadata.MD, 1)
	go func() {
		md, _ := stream.Header() // its error is always nil: a failed stream's status comes from Recv
		got <- md
	}()
	return harness.Wait(t, got, what)
}

// recvAll receives until the stream ends and returns the readings and the
// stream's error (nil for io.EOF). The end must come within WaitLimit.
func recvAll(t *testing.T, stream grpc.ServerStreamingClient[interceptorspb.Reading]) ([]*interceptorspb.Reading, error) {
	t.Helper()
	var rs []*interceptorspb.Reading
	var err error
	harness.Call(t, "stream.Recv() until the stream's end", func() {
		for {
			var r *interceptorspb.Reading
			if r, err = stream.Recv(); err != nil {
				return
			}
			rs = append(rs, r)
		}
	})
	if errors.Is(err, io.EOF) {
		return rs, nil
	}
	return rs, err
}

// cursor is a cursor's 8 bytes, as the trailer carries them.
func cursor(seq uint64) string {
	return string(binary.BigEndian.AppendUint64(nil, seq))
}

// TestInterceptors_Watch_HeaderBeforeFirstReading expects Watch to send its
// header, naming the station, before it has any reading to send: a client
// waits in Header() until the header comes, and a quiet station may send
// nothing for hours.
func TestInterceptors_Watch_HeaderBeforeFirstReading(t *testing.T) {
	client, _, stations := startWatch(t)

	stream, err := client.Watch(harness.Context(t), &interceptorspb.WatchRequest{Station: "summit"})
	harness.RequireOK(t, err, `Watch("summit")`)
	f := stations.nextFollow(t) // the station has nothing to send yet
	md := header(t, stream, "the Watch stream's header, sent before any reading: call stream.SendHeader")

	assert.Equal(t, []string{"summit"}, md.Get(interceptors.StationKey), "the header's %s", interceptors.StationKey)
	assert.Empty(t, md.Get(interceptors.TraceKey), "the header's %s when the client sent no trace id", interceptors.TraceKey)
	assert.Equal(t, "summit", f.station, "the station Watch asked Stations.Follow for")
}

// TestInterceptors_Watch_EchoesTheTraceAsRawBytes sends trace ids as raw
// bytes and expects the header to carry exactly the same bytes back: gRPC
// base64-encodes a "-bin" value on the wire and decodes it on arrival, so
// your code must neither decode nor encode it.
func TestInterceptors_Watch_EchoesTheTraceAsRawBytes(t *testing.T) {
	client, _, stations := startWatch(t)

	for _, trace := range []string{
		"\x00\x01\xfe\xff", // not text at all
		"q83v",             // bytes that happen to be valid base64 too
	} {
		ctx := metadata.AppendToOutgoingContext(harness.Context(t), interceptors.TraceKey, trace)
		stream, err := client.Watch(ctx, &interceptorspb.WatchRequest{Station: "valley"})
		harness.RequireOK(t, err, `Watch("valley")`)
		stations.nextFollow(t)
		md := header(t, stream, "the Watch stream's header")
		assert.Equal(t, []string{trace}, md.Get(interceptors.TraceKey),
			"the trace id echoed in the header, for the trace id %q: the same bytes the client sent", trace)
	}
}

// TestInterceptors_Watch_TrailerAfterTheLastReading expects Watch to stream
// the station's readings and, when the station stops, to end with OK and a
// trailer that says how many readings it sent (text) and the number of the
// last one (8 bytes). A stream that sent nothing resumes where it started.
func TestInterceptors_Watch_TrailerAfterTheLastReading(t *testing.T) {
	client, _, stations := startWatch(t)

	t.Run("three readings", func(t *testing.T) {
		stream, err := client.Watch(harness.Context(t), &interceptorspb.WatchRequest{Station: "summit"})
		harness.RequireOK(t, err, `Watch("summit")`)
		f := stations.nextFollow(t)
		f.send(t, reading("summit", 1), reading("summit", 2), reading("summit", 3))
		f.stop()

		rs, err := recvAll(t, stream)
		harness.RequireOK(t, err, "Watch once the station stopped")
		assert.Equal(t, []uint64{1, 2, 3}, seqs(rs), "the readings received")
		assert.Equal(t, []string{"3"}, stream.Trailer().Get(interceptors.SentKey), "the trailer's %s", interceptors.SentKey)
		assert.Equal(t, []string{cursor(3)}, stream.Trailer().Get(interceptors.CursorKey),
			"the trailer's %s: the last reading's number, 8 bytes big-endian", interceptors.CursorKey)
	})
	t.Run("none, after 7", func(t *testing.T) {
		stream, err := client.Watch(harness.Context(t), &interceptorspb.WatchRequest{Station: "valley", AfterSeq: 7})
		harness.RequireOK(t, err, `Watch("valley", after_seq=7)`)
		f := stations.nextFollow(t)
		assert.Equal(t, uint64(7), f.after, "the after_seq Watch passed to Stations.Follow")
		f.stop()

		rs, err := recvAll(t, stream)
		harness.RequireOK(t, err, "Watch once the station stopped")
		assert.Empty(t, rs, "the readings received")
		assert.Equal(t, []string{"0"}, stream.Trailer().Get(interceptors.SentKey), "the trailer's %s: 0 is a count too", interceptors.SentKey)
		assert.Equal(t, []string{cursor(7)}, stream.Trailer().Get(interceptors.CursorKey),
			"the trailer's %s when nothing was sent: resume where the stream started, after_seq", interceptors.CursorKey)
	})
}

// endable is your Server with a Watch the test can end from outside, as an
// interceptor would: it ends the handler's context, and once the handler
// returned, ends the call with codes.Unavailable.
type endable struct {
	*noteReturn
	ends chan context.CancelFunc
}

func (e *endable) Watch(req *interceptorspb.WatchRequest, stream interceptorspb.Telemetry_WatchServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	e.ends <- cancel
	if err := e.noteReturn.Watch(req, &watchStream{Telemetry_WatchServer: stream, ctx: ctx}); err != nil {
		return status.Error(codes.Unavailable, "the station's link went down")
	}
	return nil
}

// TestInterceptors_Watch_TrailerWhenTheStreamFails ends a stream from
// outside after two readings and expects the trailer anyway: trailers go
// with the status, whatever it is, so a client that lost its stream still
// learns where to resume.
func TestInterceptors_Watch_TrailerWhenTheStreamFails(t *testing.T) {
	stations := newStations("summit")
	e := &endable{noteReturn: stations.server(), ends: make(chan context.CancelFunc, 1)}
	srv := harness.Start(t, func(s *grpc.Server) { interceptorspb.RegisterTelemetryServer(s, e) })
	client := interceptorspb.NewTelemetryClient(srv.Conn)

	stream, err := client.Watch(harness.Context(t), &interceptorspb.WatchRequest{Station: "summit"})
	harness.RequireOK(t, err, `Watch("summit")`)
	end := harness.Wait(t, e.ends, "the Watch handler to start")
	f := stations.nextFollow(t)
	f.send(t, reading("summit", 1), reading("summit", 2))
	end() // the handler's context ends while it waits for reading 3
	srv.HandlerReturned(t, "Watch")

	rs, err := recvAll(t, stream)
	harness.RequireCode(t, err, codes.Unavailable, "Watch ended from outside")
	assert.Equal(t, []uint64{1, 2}, seqs(rs), "the readings received before the end")
	assert.Equal(t, []string{"2"}, stream.Trailer().Get(interceptors.SentKey),
		"the trailer's %s on a failed stream: set the trailer however the stream ends (defer)", interceptors.SentKey)
	assert.Equal(t, []string{cursor(2)}, stream.Trailer().Get(interceptors.CursorKey), "the trailer's %s on a failed stream", interceptors.CursorKey)
}

// TestInterceptors_Watch_UnknownStation_NotFound expects a Watch of a
// station nobody knows to fail with codes.NotFound, naming the station.
func TestInterceptors_Watch_UnknownStation_NotFound(t *testing.T) {
	client, _, _ := startWatch(t)

	stream, err := client.Watch(harness.Context(t), &interceptorspb.WatchRequest{Station: "moon"})
	harness.RequireOK(t, err, `Watch("moon")`)
	_, err = stream.Recv()
	harness.RequireCode(t, err, codes.NotFound, `Watch("moon"), a station nobody knows`)
	assert.Contains(t, status.Convert(err).Message(), "moon", "the message should name the station")
}

// TestInterceptors_Watch_ClientCancels_HandlerReturns cancels a Watch
// while the station is quiet and expects the handler to notice through its
// context and return codes.Canceled.
func TestInterceptors_Watch_ClientCancels_HandlerReturns(t *testing.T) {
	client, srv, stations := startWatch(t)

	ctx, cancel := context.WithCancel(harness.Context(t))
	stream, err := client.Watch(ctx, &interceptorspb.WatchRequest{Station: "summit"})
	harness.RequireOK(t, err, `Watch("summit")`)
	f := stations.nextFollow(t)
	f.send(t, reading("summit", 1)) // the handler now waits for reading 2
	_, err = stream.Recv()
	harness.RequireOK(t, err, "Recv of reading 1")
	cancel()

	returned := srv.HandlerReturned(t, "Watch") // fails here if the handler waits for readings alone
	harness.AssertCode(t, returned.Err, codes.Canceled, "the Watch handler's error once its client cancelled")
}

// failingSend is a Watch stream whose Send fails, as it does once the
// client is gone; its context never ends before the test does.
type failingSend struct {
	grpc.ServerStream
	ctx   context.Context
	sends int
}

func (f *failingSend) Context() context.Context     { return f.ctx }
func (f *failingSend) SetHeader(metadata.MD) error  { return nil }
func (f *failingSend) SendHeader(metadata.MD) error { return nil }
func (f *failingSend) SetTrailer(metadata.MD)       {}
func (f *failingSend) Send(*interceptorspb.Reading) error {
	f.sends++
	return status.Error(codes.Unavailable, "the client is gone")
}

// TestInterceptors_Watch_SendFails_ReturnsTheError calls Watch directly
// with a stream whose Send fails, and expects Watch to return that error at
// once instead of waiting for the next reading.
func TestInterceptors_Watch_SendFails_ReturnsTheError(t *testing.T) {
	stations := newStations("summit")
	server := stations.server() // your Server
	stream := &failingSend{ctx: harness.Context(t)}

	done := make(chan error, 1)
	go func() { done <- server.Watch(&interceptorspb.WatchRequest{Station: "summit"}, stream) }()
	f := stations.nextFollow(t)
	f.send(t, reading("summit", 1))

	err := f.returnsInstead(t, reading("summit", 2), done, "its Send of reading 1 failed")
	harness.AssertCode(t, err, codes.Unavailable, "Watch whose Send failed")
	require.Equal(t, 1, stream.sends, "Send calls")
}
