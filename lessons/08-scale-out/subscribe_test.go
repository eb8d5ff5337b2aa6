package scaleout_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/grpc-workbook/streaming/internal/harness"
	scaleout "github.com/grpc-workbook/streaming/lessons/08-scale-out"
	"github.com/grpc-workbook/streaming/lessons/08-scale-out/scaleoutpb"
)

func TestScaleOut_Subscribe_PublishAnywhere_ReceiveEverywhere(t *testing.T) {
	b := startBroker(t, 100)
	a, bb := startReplica(t, b, "A"), startReplica(t, b, "B")
	onA, onB := subscribe(t, a, 0), subscribe(t, bb, 0)
	alsoOnA := subscribe(t, a, 0)

	publishN(t, 1, 20, a, bb) // odd numbers on B, even on A
	harness.AssertEachOnceInOrder(t, "the subscriber on replica A", 1, 20, onA.messages(t, 20, "the subscriber on replica A"))
	harness.AssertEachOnceInOrder(t, "the subscriber on replica B", 1, 20, onB.messages(t, 20, "the subscriber on replica B"))
	harness.AssertEachOnceInOrder(t, "the second subscriber on replica A", 1, 20, alsoOnA.messages(t, 20, "the second subscriber on replica A"))

	// Nothing more than once: the next message each hears is the next one published.
	publishN(t, 21, 1, bb)
	for who, s := range map[string]*subscription{"on replica A": onA, "on replica B": onB, "(second) on replica A": alsoOnA} {
		assert.Equal(t, []int{21}, s.messages(t, 1, "the subscriber "+who), "the message after 20, for the subscriber %s", who)
	}
	assert.Equal(t, 3, b.consumers(t), "consumers in the broker with three subscribers: one each")
}

func TestScaleOut_Subscribe_ClientLeaves_ConsumerDeleted(t *testing.T) {
	b := startBroker(t, 100)
	a, bb := startReplica(t, b, "A"), startReplica(t, b, "B")
	subs := []*subscription{subscribe(t, a, 0), subscribe(t, a, 0), subscribe(t, bb, 0)}
	publishN(t, 1, 1, a)
	for i, s := range subs {
		s.messages(t, 1, fmt.Sprintf("subscriber %d", i+1))
	}
	require.Equal(t, 3, b.consumers(t), "consumers in the broker with three subscribers: one each")

	for i, s := range subs {
		s.cancel()
		returned := s.replica.srv.HandlerReturned(t, "Subscribe")
		harness.AssertCode(t, returned.Err, codes.Canceled, fmt.Sprintf("what replica %s's Subscribe handler returned after its client cancelled", s.replica.name))
		assert.Equal(t, len(subs)-i-1, b.consumers(t),
			"consumers in the broker once the handler of subscriber %d (on replica %s) has returned: each handler deletes its own consumer before it returns, with a context that has not ended", i+1, s.replica.name)
	}
}

func TestScaleOut_Subscribe_DeadlinePasses_DeadlineExceeded(t *testing.T) {
	// The stream's context ends because the call's deadline passed: the code
	// comes from the context (status.FromContextError), not from a code the
	// handler picks itself. The stream is a fake whose deadline the test
	// makes pass while the handler waits for the next event.
	b := startBroker(t, 100)
	a := startReplica(t, b, "A")
	b.publishDirect(t, 1, 1)
	ctx := newExpiringContext(t)
	t.Cleanup(ctx.expire)
	stream := newFakeStream(ctx)
	returned := make(chan error, 1)
	go func() { returned <- a.r.Subscribe(&scaleoutpb.SubscribeRequest{}, stream) }()
	harness.Wait(t, stream.sent, "the first Send")

	ctx.expire()
	err := harness.Wait(t, returned, "Subscribe to return once the call's deadline passed")
	harness.AssertCode(t, err, codes.DeadlineExceeded, "what Subscribe returned once the call's deadline passed")
	assert.Equal(t, 0, b.consumers(t), "consumers in the broker after the handler returned")
}

func TestScaleOut_Subscribe_SendFails_ReturnsTheErrorAndDeletesTheConsumer(t *testing.T) {
	b := startBroker(t, 100)
	a := startReplica(t, b, "A")
	b.publishDirect(t, 1, 3)

	broken := errors.New("the test's stream is broken")
	stream := newFakeStream(harness.Context(t))
	stream.sendErr = broken
	var err error
	harness.Call(t, "replica.Subscribe(after_seq=0) on a stream whose Send fails", func() {
		err = a.r.Subscribe(&scaleoutpb.SubscribeRequest{}, stream)
	})
	assert.ErrorIs(t, err, broken, "Subscribe must return the error Send returned")
	assert.Len(t, stream.sent, 1, "events sent after the first Send failed: none")
	assert.Equal(t, 0, b.consumers(t), "consumers in the broker after the handler returned")
}

func TestScaleOut_Subscribe_SlowSubscriber_OthersKeepUp_ThenOutOfRange(t *testing.T) {
	const keep = 16
	b := startBroker(t, keep)
	a := startReplica(t, b, "A")
	fast := subscribe(t, a, 0)

	// The slow subscriber's Send takes the first event and then blocks: the
	// client has stopped reading.
	slow := newFakeStream(harness.Context(t))
	slow.hold = make(chan struct{})
	returned, done := make(chan error, 1), make(chan struct{})
	go func() {
		defer close(done)
		returned <- a.r.Subscribe(&scaleoutpb.SubscribeRequest{}, slow)
	}()
	release := sync.OnceFunc(func() { close(slow.hold) })
	t.Cleanup(func() { // end it however the test ends, before the broker closes
		release()
		harness.Wait(t, done, "the slow subscriber's Subscribe to return once its client read again")
	})

	n := 3*scaleout.PullBatch + keep
	publishN(t, 1, 1, a)
	first := harness.Wait(t, slow.sent, "the slow subscriber's first Send")
	got := fast.messages(t, 1, "the fast subscriber")
	for i := 2; i <= n; i++ { // each event reaches the fast subscriber before the next is published
		b.publishDirect(t, i, 1)
		got = append(got, fast.messages(t, 1, "the fast subscriber, while the slow one did not read")...)
	}
	harness.AssertEachOnceInOrder(t, "the fast subscriber, while the slow one did not read", 1, n, got)

	release() // the slow client reads again
	err := harness.Wait(t, returned, "the slow subscriber's Subscribe to return once the broker had dropped events it had not read")
	got = []int{int(first.GetMessage().GetSeq())}
	for len(slow.sent) > 0 {
		got = append(got, int((<-slow.sent).GetMessage().GetSeq()))
	}
	require.NotEmpty(t, got)
	harness.AssertEachOnceInOrder(t, "the slow subscriber, up to the first event the broker dropped", 1, got[len(got)-1], got)
	harness.AssertCode(t, err, codes.OutOfRange, "Subscribe for a subscriber that fell behind by more than the broker keeps")
	missing := fmt.Sprint(got[len(got)-1] + 1)
	assert.Contains(t, status.Convert(err).Message(), missing, "the OutOfRange message must name the first sequence the subscriber missed")
	assert.Contains(t, status.Convert(err).Message(), "A", "the OutOfRange message must name the replica")
	assert.Less(t, len(got), n-keep, "events the slow subscriber got: it fell behind by more than the broker keeps, and more than PullBatch")
	assert.Equal(t, 1, b.consumers(t), "consumers in the broker after the slow subscriber's handler returned: the fast one's only")
}

func TestScaleOut_Subscribe_ReplicaCloses_GoodbyeWithLastSeq(t *testing.T) {
	b := startBroker(t, 100)
	a := startReplica(t, b, "A")
	reading := subscribe(t, a, 0)
	publishN(t, 1, 3, a)
	reading.messages(t, 3, "the subscriber")
	also := subscribe(t, a, 0)
	also.messages(t, 3, "the second subscriber")

	a.r.Close()
	for who, s := range map[string]*subscription{"the subscriber that read 1 to 3": reading, "the second subscriber": also} {
		ev := s.goodbye(t, who)
		want := &scaleoutpb.Event{Kind: &scaleoutpb.Event_Goodbye{Goodbye: &scaleoutpb.Goodbye{Replica: "A", LastSeq: 3}}}
		assert.Truef(t, proto.Equal(want, ev), "%s, when its replica closes: want %v, got %v", who, want, ev)
		s.requireEOF(t, "the end of the stream after Goodbye, for "+who)
		a.srv.HandlerReturned(t, "Subscribe")
	}
	assert.Equal(t, 0, b.consumers(t), "consumers in the broker after both handlers returned")

	late, err := a.client.Subscribe(harness.Context(t), &scaleoutpb.SubscribeRequest{AfterSeq: 3})
	harness.RequireOK(t, err, "opening Subscribe on a closed replica")
	_, err = late.Recv()
	harness.AssertCode(t, err, codes.Unavailable, "Subscribe on a replica that has closed")
}
