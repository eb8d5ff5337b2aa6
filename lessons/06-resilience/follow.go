package resilience

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/lessons/06-resilience/resiliencepb"
)

// Follower follows a Feed through server restarts and lost connections.
type Follower struct {
	Client  resiliencepb.FeedClient
	Backoff Backoff
	// After is time.After; a test puts its own in, to decide when a wait ends.
	After func(time.Duration) <-chan time.Time
}

// NewFollower returns a Follower of client with DefaultBackoff.
func NewFollower(client resiliencepb.FeedClient) *Follower {
	return &Follower{Client: client, Backoff: DefaultBackoff(), After: time.After}
}

// Follow calls handle with every event numbered above after, in order, each
// exactly once, for as long as ctx lasts. When a stream breaks with an error
// Retryable accepts, or ends, Follow waits as f.Backoff says and subscribes
// again after the last event it handled. It returns ctx.Err() once ctx ends,
// and any other error as it is.
func (f *Follower) Follow(ctx context.Context, after uint64, handle func(*resiliencepb.Event)) error {
	// TODO(lesson 06): Task 4. Subscribe after the last event handled, Recv
	// and handle until the stream ends, then stop (ctx ended, or an error
	// Retryable rejects) or wait f.Backoff.Delay(attempt) with f.After and
	// ctx.Done(), and subscribe again. attempt goes back to 0 on each event.
	return status.Error(codes.Unimplemented, "Follow is not implemented yet (lesson 06, task 4)")
}
