package scaleout_test

import (
	"context"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/internal/harness"
	scaleout "github.com/grpc-workbook/streaming/lessons/08-scale-out"
	"github.com/grpc-workbook/streaming/lessons/08-scale-out/scaleoutpb"
)

// following is a Follow call running on its own goroutine.
type following struct {
	who      string
	mu       sync.Mutex
	seqs     []int
	changed  chan struct{} // closed, and replaced, at every message handled
	cancel   context.CancelFunc
	returned chan error
}

// startFollow runs scaleout.Follow over the replicas, in that order, after
// after. who names it in failure messages.
func startFollow(t *testing.T, who string, after uint64, replicas ...*replica) *following {
	t.Helper()
	harness.See(t)
	ctx, cancel := context.WithCancel(harness.Context(t))
	f := &following{who: who, changed: make(chan struct{}), cancel: cancel, returned: make(chan error, 1)}
	clients := make([]scaleoutpb.HubClient, len(replicas))
	for i, r := range replicas {
		clients[i] = r.client
	}
	go func() { f.returned <- scaleout.Follow(ctx, clients, after, f.handle) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-f.returned:
		case <-harness.Timeout():
			t.Errorf("%s: Follow did not return after its context was cancelled", who)
		}
	})
	return f
}

func (f *following) handle(m *scaleoutpb.Message) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seqs = append(f.seqs, int(m.GetSeq()))
	close(f.changed)
	f.changed = make(chan struct{})
}

// Seqs is what was handled so far.
func (f *following) Seqs() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.seqs...)
}

// waitFor waits until n messages have been handled, giving up when none
// arrives for harness.WaitLimit, or when Follow returns.
func (f *following) waitFor(t *testing.T, n int) {
	t.Helper()
	for {
		f.mu.Lock()
		got, changed := len(f.seqs), f.changed
		f.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-changed:
		case err := <-f.returned:
			f.returned <- err
			t.Fatalf("%s: Follow returned %s after handling %d of %d messages (%v); it must move to another replica and go on",
				f.who, harness.Describe(err), got, n, shortInts(f.Seqs()))
		case <-harness.Timeout():
			harness.Blocked(t, fmt.Sprintf("%s to handle message #%d (it has handled %v)", f.who, got+1, shortInts(f.Seqs())))
		}
	}
}

// Returned waits for Follow to return, and returns what it returned.
func (f *following) Returned(t *testing.T, what string) error {
	t.Helper()
	err := harness.Wait(t, f.returned, f.who+": Follow to return "+what)
	f.returned <- err // for the cleanup
	return err
}

func shortInts(seqs []int) string {
	list := make([]string, len(seqs))
	for i, s := range seqs {
		list[i] = fmt.Sprint(s)
	}
	return "[" + harness.Shorten(list) + "]"
}

func TestScaleOut_Follow_ReplicaSaysGoodbye_ResumesOnTheNext(t *testing.T) {
	b := startBroker(t, 100)
	a, bb := startReplica(t, b, "A"), startReplica(t, b, "B")
	f := startFollow(t, "the follower (A, then B)", 0, a, bb)
	publishN(t, 1, 5, a, bb)
	f.waitFor(t, 5)

	a.r.Close() // Goodbye to the follower: it resumes on B after 5
	a.srv.HandlerReturned(t, "Subscribe")
	publishN(t, 6, 5, bb)
	f.waitFor(t, 10)
	harness.AssertEachOnceInOrder(t, f.who, 1, 10, f.Seqs())
	assert.Equal(t, 1, b.consumers(t), "consumers in the broker: the follower's, on replica B")
}

func TestScaleOut_Follow_ReplicaDiesWhilePublishing_NothingLostRepeatedOrReordered(t *testing.T) {
	const n = 300
	b := startBroker(t, 1000)
	a, bb := startReplica(t, b, "A"), startReplica(t, b, "B")
	followers := []*following{
		startFollow(t, "follower 1 (on A, then B)", 0, a, bb),
		startFollow(t, "follower 2 (on A, then B)", 0, a, bb),
		startFollow(t, "follower 3 (on B, then A)", 0, bb, a),
	}

	// The publisher publishes 1 to n on A and B in turn without a pause. A
	// publish that fails with Unavailable (A has died) is retried on B with
	// the same request id: stored once, whether or not A stored it.
	published := make(chan error, 1)
	killed := make(chan struct{})
	kill := sync.OnceFunc(func() { close(killed) })
	t.Cleanup(kill) // if the test ends early, the publisher still finishes
	go func() {
		published <- func() error {
			for i := 1; i <= n; i++ {
				if i == n/2 {
					<-killed // A dies with events still coming
				}
				req := &scaleoutpb.PublishRequest{RequestId: fmt.Sprintf("id-%d", i), Payload: payload(i)}
				r := []*replica{a, bb}[i%2]
				reply, err := r.client.Publish(harness.Context(t), req)
				if status.Code(err) == codes.Unavailable {
					reply, err = bb.client.Publish(harness.Context(t), req)
				}
				if err != nil {
					return fmt.Errorf("publishing %d: %s", i, harness.Describe(err))
				}
				if reply.GetSeq() != uint64(i) {
					return fmt.Errorf("publishing %d: got sequence %d", i, reply.GetSeq())
				}
			}
			return nil
		}()
	}()
	for _, f := range followers {
		f.waitFor(t, n/4)
	}
	a.gs.Stop() // replica A dies: every stream on it breaks
	kill()
	for _, f := range followers {
		f.waitFor(t, n)
	}
	assert.NoError(t, harness.Wait(t, published, "the publisher to finish"), "the publisher")
	for _, f := range followers {
		harness.AssertEachOnceInOrder(t, f.who, 1, n, f.Seqs())
	}
}

func TestScaleOut_Follow_PositionNotKept_ReturnsOutOfRange(t *testing.T) {
	b := startBroker(t, 5)
	a, bb := startReplica(t, b, "A"), startReplica(t, b, "B")
	publishN(t, 1, 10, a)

	f := startFollow(t, "a follower after 2, when the broker keeps 6 to 10", 2, a, bb)
	err := f.Returned(t, "OutOfRange")
	harness.AssertCode(t, err, codes.OutOfRange, "Follow(after=2) when the broker keeps 6 to 10")
	assert.Empty(t, f.Seqs(), "messages handled")
	assert.False(t, bb.srv.HandlerHasStarted("Subscribe"),
		"Follow subscribed on replica B after replica A said OutOfRange: every replica reads the same broker, so the answer is the same everywhere")
}

func TestScaleOut_Follow_EveryReplicaDown_ReturnsUnavailable(t *testing.T) {
	b := startBroker(t, 100)
	a, bb := startReplica(t, b, "A"), startReplica(t, b, "B")
	a.r.Close() // shutting down: refuses new streams
	bb.gs.Stop()

	f := startFollow(t, "a follower of two replicas that are down", 0, a, bb)
	err := f.Returned(t, "when no replica works")
	harness.AssertCode(t, err, codes.Unavailable, "Follow when every replica is down")
}

func TestScaleOut_Follow_EveryReplicaSaysGoodbyeAtOnce_ReturnsUnavailable(t *testing.T) {
	replicas := []scaleoutpb.HubClient{leaving{"A"}, leaving{"B"}}
	var err error
	harness.Call(t, "scaleout.Follow over two replicas that each say Goodbye at once", func() {
		err = scaleout.Follow(harness.Context(t), replicas, 0, func(*scaleoutpb.Message) {})
	})
	harness.AssertCode(t, err, codes.Unavailable,
		"Follow when every replica ended its stream cleanly without a message (no error came back: make one, or the caller reads success)")
}

// leaving is a replica that is shutting down: every Subscribe gets Goodbye,
// then the stream's clean end.
type leaving struct{ name string }

func (l leaving) Subscribe(ctx context.Context, in *scaleoutpb.SubscribeRequest, _ ...grpc.CallOption) (grpc.ServerStreamingClient[scaleoutpb.Event], error) {
	bye := &scaleoutpb.Event{Kind: &scaleoutpb.Event_Goodbye{Goodbye: &scaleoutpb.Goodbye{Replica: l.name, LastSeq: in.GetAfterSeq()}}}
	return &endingStream{events: []*scaleoutpb.Event{bye}, ctx: ctx}, nil
}

func (l leaving) Publish(context.Context, *scaleoutpb.PublishRequest, ...grpc.CallOption) (*scaleoutpb.PublishReply, error) {
	return nil, status.Error(codes.Unavailable, "replica "+l.name+" is shutting down")
}

// endingStream hands out its events, then io.EOF.
type endingStream struct {
	grpc.ClientStream // nil: only Recv and Context are used
	events            []*scaleoutpb.Event
	ctx               context.Context
}

func (s *endingStream) Recv() (*scaleoutpb.Event, error) {
	if len(s.events) == 0 {
		return nil, io.EOF
	}
	ev := s.events[0]
	s.events = s.events[1:]
	return ev, nil
}

func (s *endingStream) Context() context.Context { return s.ctx }

func TestScaleOut_Follow_CallerCancels_ReturnsAndLeavesNothing(t *testing.T) {
	b := startBroker(t, 100)
	a, bb := startReplica(t, b, "A"), startReplica(t, b, "B")
	f := startFollow(t, "the follower", 0, a, bb)
	publishN(t, 1, 2, a)
	f.waitFor(t, 2)

	f.cancel()
	err := f.Returned(t, "after its caller cancelled")
	assert.ErrorIs(t, err, context.Canceled, "what Follow returns when its context is cancelled: ctx.Err()")
	returned := a.srv.HandlerReturned(t, "Subscribe")
	harness.AssertCode(t, returned.Err, codes.Canceled, "what replica A's handler returned: the follower's stream must end with its caller's context")
	assert.Equal(t, 0, b.consumers(t), "consumers in the broker after the follower stopped")
}
