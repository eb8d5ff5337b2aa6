// Mistake: Watch base64-decodes the "-bin" values of the header and the
// trailer.
//
// Why it is wrong: gRPC has already decoded them: what Get returns are the
// raw bytes. Decoding again fails on bytes that are not base64 and changes
// those that happen to be.
//
// Caught by: TestInterceptors_ClientWatch_BinaryValuesAreRawBytes

package interceptors

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/lessons/07-interceptors/interceptorspb"
)

// WatchResult is everything one Watch stream carried.
type WatchResult struct {
	Station  string                    // from the header (StationKey)
	Trace    []byte                    // the trace id the header echoed (TraceKey); nil if none
	Readings []*interceptorspb.Reading // in the order they arrived
	Sent     int                       // from the trailer (SentKey)
	Cursor   uint64                    // from the trailer (CursorKey)
}

// Watch watches station from after on, sending trace (if it is not empty)
// as the call's trace id, until the stream ends. It returns what the stream
// carried, header and trailer included, and the stream's error (nil when it
// ended with OK); it returns both when the stream failed after it started.
func Watch(ctx context.Context, client interceptorspb.TelemetryClient, station string, after uint64, trace []byte) (*WatchResult, error) {
	if len(trace) > 0 {
		// Append, never replace: the caller's ctx may carry metadata of its own.
		ctx = metadata.AppendToOutgoingContext(ctx, TraceKey, string(trace))
	}
	stream, err := client.Watch(ctx, &interceptorspb.WatchRequest{Station: station, AfterSeq: after})
	if err != nil {
		return nil, err
	}
	// Header waits for the server's header. It is nil (and the error too) if
	// the stream ended without one: Recv then returns the status.
	header, err := stream.Header()
	if err != nil {
		return nil, err
	}
	res := &WatchResult{}
	if v := header.Get(StationKey); len(v) > 0 {
		res.Station = v[0]
	}
	if v := header.Get(TraceKey); len(v) > 0 {
		// -bin values travel as base64: decode them.
		if raw, err := base64.StdEncoding.DecodeString(v[0]); err == nil {
			res.Trace = raw
		}
	}
	for {
		r, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			// Only now, once Recv has returned an error or io.EOF, has the
			// trailer arrived: before, Trailer returns an empty MD.
			if terr := res.readTrailer(stream.Trailer()); err == nil {
				err = terr
			}
			return res, err
		}
		res.Readings = append(res.Readings, r)
	}
}

// readTrailer fills Sent and Cursor from the trailer. A key that is missing
// leaves its field 0; a value that cannot be read is an error.
func (res *WatchResult) readTrailer(trailer metadata.MD) error {
	if v := trailer.Get(SentKey); len(v) > 0 {
		n, err := strconv.Atoi(v[0])
		if err != nil {
			return fmt.Errorf("trailer %s: %q is not a number", SentKey, v[0])
		}
		res.Sent = n
	}
	if v := trailer.Get(CursorKey); len(v) > 0 {
		raw, err := base64.StdEncoding.DecodeString(v[0])
		if err != nil || len(raw) != 8 {
			return fmt.Errorf("trailer %s: %q is not 8 bytes of base64", CursorKey, v[0])
		}
		res.Cursor = binary.BigEndian.Uint64(raw)
	}
	return nil
}

// Follower follows a station for as long as its caller wants, through
// tokens that expire.
type Follower struct {
	Client interceptorspb.TelemetryClient
	// Refresh gets a new token: the connection's credentials send it from the
	// next call on.
	Refresh func(ctx context.Context) error
}

// Follow calls handle with every reading of station numbered above after,
// in order, each once. It returns nil when the station stops, ctx.Err() when
// ctx ends, and any other error of the stream as it is, except
// codes.Unauthenticated: then it refreshes the token and watches again from
// the last reading handled, unless it already did so and no reading came
// since (a refresh that did not help), when it returns the error.
func (f *Follower) Follow(ctx context.Context, station string, after uint64, handle func(*interceptorspb.Reading)) error {
	refreshed := false // a refresh since the last reading handled
	for {
		stream, err := f.Client.Watch(ctx, &interceptorspb.WatchRequest{Station: station, AfterSeq: after})
		for err == nil {
			var r *interceptorspb.Reading
			if r, err = stream.Recv(); err == nil {
				handle(r)
				after, refreshed = r.GetSeq(), false
			}
		}
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case status.Code(err) != codes.Unauthenticated || refreshed:
			return err
		}
		if err := f.Refresh(ctx); err != nil {
			return fmt.Errorf("refreshing the token: %w", err)
		}
		refreshed = true
	}
}
