// Mistake: Follow waits for the backoff alone, not for ctx.Done() too.
//
// Why it is wrong: A caller that cancels during a five-second wait waits five
// seconds, and with a longer cap, longer.
//
// Caught by: TestResilience_Follow_CancelWhileWaiting_ReturnsAtOnce

package resilience

import (
	"context"
	"errors"
	"io"
	"time"

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
	attempt := 0 // retries since a stream last delivered an event
	for {
		stream, err := f.Client.Subscribe(ctx, &resiliencepb.SubscribeRequest{AfterSeq: after})
		for err == nil {
			var ev *resiliencepb.Event
			if ev, err = stream.Recv(); err == nil {
				handle(ev)
				after, attempt = ev.GetSeq(), 0
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !errors.Is(err, io.EOF) && !Retryable(err) {
			return err
		}
		<-f.After(f.Backoff.Delay(attempt))
		attempt++
	}
}
