package interceptors

import (
	"context"

	"google.golang.org/grpc/codes"
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
	// TODO(lesson 07): Task 2. Add the trace id to ctx's outgoing metadata,
	// open the stream, read the header, receive every reading, and read the
	// trailer once Recv has returned io.EOF or an error.
	return nil, status.Error(codes.Unimplemented, "Watch is not implemented yet (lesson 07, task 2)")
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
	// TODO(lesson 07): Task 6. Watch after `after`, handle each reading; on
	// codes.Unauthenticated call f.Refresh and watch again after the last
	// reading handled, unless a refresh since then did not help.
	return status.Error(codes.Unimplemented, "Follow is not implemented yet (lesson 07, task 6)")
}
