// Mistake: Watch waits for readings alone, not for the stream's context.
//
// Why it is wrong: When the client leaves while the station is quiet, the
// handler keeps waiting for a reading nobody will receive, holding its
// goroutine until the station speaks.
//
// Caught by: TestInterceptors_Watch_ClientCancels_HandlerReturns

// Package interceptors is lesson 07 of the workbook: the observatory's
// telemetry service, with metadata on its streams, authentication, and the
// code every call shares (interceptors). README.md in this folder tells the
// story and lists the tasks; each TODO below names the task it belongs to.
package interceptors

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/lessons/07-interceptors/interceptorspb"
)

// The metadata keys of the Telemetry service. Keys are lower case. A key
// that ends in "-bin" carries bytes: gRPC base64-encodes its values on the
// wire and decodes them on arrival, so both sides only ever see the raw
// bytes. Every other key carries printable ASCII text.
const (
	// TraceKey is the caller's trace id, raw bytes, sent by the client; the
	// server echoes it in its header, so a client can match the answer to
	// its own logs.
	TraceKey = "x-trace-bin"
	// StationKey is a header: the station the stream carries.
	StationKey = "x-station"
	// SentKey is a trailer: how many readings the stream carried, in decimal.
	SentKey = "x-readings-sent"
	// CursorKey is a trailer: where to resume, the number of the last reading
	// sent (or the request's after_seq if none was), as 8 bytes big-endian.
	CursorKey = "x-cursor-bin"
)

// Stations is where readings come from: a fake in the tests, a database or
// a message bus in a real service. Its methods are safe for concurrent use.
// (Given.)
type Stations interface {
	// Follow returns the readings of station numbered above after, oldest
	// first, then each new one as it is taken. The channel is closed when
	// the station stops reporting, and only then: once ctx ends, nothing
	// more is sent on it. ok is false for a station nobody knows.
	Follow(ctx context.Context, station string, after uint64) (readings <-chan *interceptorspb.Reading, ok bool)
	// Latest returns the station's latest reading; ok is false if it has none.
	Latest(station string) (r *interceptorspb.Reading, ok bool)
	// Store keeps an uploaded reading.
	Store(r *interceptorspb.Reading)
}

// Server is the Telemetry service. Authentication, logging and limits are
// not its business: the interceptors and options of the later tasks wrap it.
type Server struct {
	interceptorspb.UnimplementedTelemetryServer

	stations Stations
}

// NewServer returns a Telemetry service over stations.
func NewServer(stations Stations) *Server {
	return &Server{stations: stations}
}

// Watch streams the readings of req.Station numbered above req.AfterSeq.
// Its header names the station (StationKey) and echoes the caller's trace id
// (TraceKey), and is sent before the first reading; its trailer says how many
// readings the stream carried (SentKey) and where to resume (CursorKey),
// however the stream ends.
func (s *Server) Watch(req *interceptorspb.WatchRequest, stream interceptorspb.Telemetry_WatchServer) error {
	ctx := stream.Context()
	readings, ok := s.stations.Follow(ctx, req.GetStation(), req.GetAfterSeq())
	if !ok {
		return status.Errorf(codes.NotFound, "no station is called %q", req.GetStation())
	}

	header := metadata.Pairs(StationKey, req.GetStation())
	md, _ := metadata.FromIncomingContext(ctx) // a nil MD is fine to read
	if trace := md.Get(TraceKey); len(trace) > 0 {
		header.Set(TraceKey, trace...) // raw bytes in, raw bytes out: gRPC does the base64
	}
	// Now, not with the first reading: a quiet station may send nothing for
	// hours, and the client's Header() waits for this.
	if err := stream.SendHeader(header); err != nil {
		return err
	}

	sent, cursor := 0, req.GetAfterSeq()
	defer func() { // the trailer goes with the status, whatever it is
		stream.SetTrailer(metadata.Pairs(
			SentKey, strconv.Itoa(sent),
			CursorKey, string(binary.BigEndian.AppendUint64(nil, cursor)),
		))
	}()
	for r := range readings {
		if err := stream.Send(r); err != nil {
			return err
		}
		sent, cursor = sent+1, r.GetSeq()
	}
	return nil // the station stopped: the stream ends with OK
}

// Latest answers the station's latest reading. (Given.)
func (s *Server) Latest(ctx context.Context, req *interceptorspb.LatestRequest) (*interceptorspb.Reading, error) {
	r, ok := s.stations.Latest(req.GetStation())
	if !ok {
		return nil, status.Errorf(codes.NotFound, "station %q has no readings", req.GetStation())
	}
	return r, nil
}

// Upload stores every reading the client sends and answers how many it
// stored. (Given.)
func (s *Server) Upload(stream interceptorspb.Telemetry_UploadServer) error {
	var stored uint32
	for {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(&interceptorspb.UploadSummary{Stored: stored})
		}
		if err != nil {
			return err
		}
		s.stations.Store(r)
		stored++
	}
}
