package pubsub_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/grpc-workbook/streaming/internal/harness"
	pubsub "github.com/grpc-workbook/streaming/lessons/05-pubsub"
	"github.com/grpc-workbook/streaming/lessons/05-pubsub/pubsubpb"
)

// --- Task 6: Stream the hub over gRPC ---

func TestPubSub_Subscribe_FirstThenMessagesInOrder(t *testing.T) {
	// Each subscriber's stream starts with First, then carries every message
	// published after it, in order; Publish replies with the number and the
	// subscriber count.
	_, client, _, _ := startHub(t, 16)
	ctx := harness.Context(t)

	ann := openStream(t, ctx, client, "ann")
	requireEvent(t, ann, first("ann", 1), `ann's first event`)
	bob := openStream(t, ctx, client, "bob")
	requireEvent(t, bob, first("bob", 2), `bob's first event`)
	// Both have received First, so both are registered: nothing published
	// from here on can miss them.

	const n = 5
	for i := 1; i <= n; i++ {
		reply, err := client.Publish(ctx, &pubsubpb.PublishRequest{Payload: fmt.Sprintf("m%d", i)})
		harness.RequireOK(t, err, fmt.Sprintf(`Publish(payload="m%d")`, i))
		want := &pubsubpb.PublishReply{Seq: uint64(i), Subscribers: 2}
		assert.Truef(t, proto.Equal(want, reply), "Publish's reply: want {%v}, got {%v}", want, reply)
	}
	for _, stream := range []eventStream{ann, bob} {
		for i := 1; i <= n; i++ {
			requireEvent(t, stream, message(uint64(i), fmt.Sprintf("m%d", i)), fmt.Sprintf("published message %d of %d", i, n))
		}
	}
}

func TestPubSub_Subscribe_HubCloses_GoodbyeThenEOF(t *testing.T) {
	// When the hub closes, a stream carries what was left in its queue, then
	// Goodbye; the handler returns nil, so the client sees io.EOF.
	hub, client, srv, _ := startHub(t, 16)
	ann := openStream(t, harness.Context(t), client, "ann")
	requireEvent(t, ann, first("ann", 1), "ann's first event")
	publish(t, hub, "last news")
	closeHub(t, hub)

	requireEvent(t, ann, message(1, "last news"), "ann's event after First")
	requireEvent(t, ann, goodbye(0), "ann's last event")
	recvEOF(t, ann, "ann's Recv after Goodbye")
	returned := srv.HandlerReturned(t, "Subscribe")
	harness.AssertCode(t, returned.Err, codes.OK, "the Subscribe handler's returned error once its queue closed")
}

func TestPubSub_Subscribe_ClientLeaves_HubForgetsIt(t *testing.T) {
	// A client that cancels ends its handler with Canceled, and by the time
	// the handler has returned the hub has forgotten the subscriber.
	hub, client, srv, _ := startHub(t, 16)

	ctx, cancel := context.WithCancel(harness.Context(t))
	ann := openStream(t, ctx, client, "ann")
	requireEvent(t, ann, first("ann", 1), "ann's first event")
	n, _ := count(t, hub)
	require.Equal(t, 1, n, "SubscriberCount once ann has received First")

	cancel() // ann goes away
	_, err := recv(t, ann, "ann's Recv after cancelling its call")
	harness.AssertCode(t, err, codes.Canceled, "ann's Recv after cancelling its call")
	returned := srv.HandlerReturned(t, "Subscribe")
	harness.AssertCode(t, returned.Err, codes.Canceled, "the Subscribe handler's returned error after its client left")

	n, _ = count(t, hub)
	require.Zero(t, n, "SubscriberCount once the Subscribe handler has returned: defer s.hub.Unsubscribe(sub)")
	again := openStream(t, harness.Context(t), client, "ann")
	requireEvent(t, again, first("ann", 1), `the first event of ann's second Subscribe: the name must be free again`)
}

func TestPubSub_Subscribe_DeadlinePasses_DeadlineExceeded(t *testing.T) {
	// When the call's deadline passes, the handler returns DeadlineExceeded:
	// the code comes from the context's error (status.FromContextError), not
	// from a code the handler picks itself. The stream here is a fake whose
	// context has already passed its deadline.
	hub := pubsub.NewHub(4)
	ctx, cancel := context.WithDeadline(harness.Context(t), time.Now())
	defer cancel()
	stream := &fakeStream{ctx: ctx}

	err := callSubscribe(t, pubsub.NewServer(hub), "ann", stream, "whose deadline has passed")
	harness.AssertCode(t, err, codes.DeadlineExceeded, `the Subscribe handler's returned error once the call's deadline passed`)
	n, _ := count(t, hub)
	assert.Zero(t, n, "SubscriberCount once the Subscribe handler has returned")
}

func TestPubSub_Subscribe_SendFails_ReturnsSendError(t *testing.T) {
	// A failed Send ends the handler at once with Send's error: the stream is
	// broken, so nothing more can reach this subscriber. The stream here is a
	// fake whose Send fails, while its context stays alive.
	hub := pubsub.NewHub(4)
	broken := status.Error(codes.Unavailable, "injected: the connection broke")
	stream := &fakeStream{ctx: harness.Context(t), sendErr: broken}

	err := callSubscribe(t, pubsub.NewServer(hub), "ann", stream, "whose Send fails")
	harness.AssertCode(t, err, codes.Unavailable, `the Subscribe handler's returned error after Send failed`)
	assert.Len(t, stream.sent, 1, "Send calls: the first one (First) failed, so there should be no second")
	n, _ := count(t, hub)
	assert.Zero(t, n, "SubscriberCount once the Subscribe handler has returned")
}

// --- Task 7: Reject bad names with clear codes ---

func TestPubSub_Subscribe_BadInput_Codes(t *testing.T) {
	// The hub's errors become the codes of the README's table, and keep the
	// taken name in the message.
	t.Run("empty name is InvalidArgument", func(t *testing.T) {
		_, client, _, _ := startHub(t, 4)
		_, err := recv(t, openStream(t, harness.Context(t), client, ""), `the answer to Subscribe(name="")`)
		harness.RequireCode(t, err, codes.InvalidArgument, `Subscribe(name="")`)
		assert.Contains(t, status.Convert(err).Message(), "name", "the message should say which field is wrong")
	})
	t.Run("a name already subscribed is AlreadyExists", func(t *testing.T) {
		_, client, _, _ := startHub(t, 4)
		ctx := harness.Context(t)
		ann := openStream(t, ctx, client, "ann")
		requireEvent(t, ann, first("ann", 1), "the first ann's first event")

		_, err := recv(t, openStream(t, ctx, client, "ann"), `the answer to a second Subscribe(name="ann")`)
		harness.RequireCode(t, err, codes.AlreadyExists, `a second Subscribe(name="ann")`)
		assert.Contains(t, status.Convert(err).Message(), "ann", "the message should name the taken name")
	})
	t.Run("after the hub closed, Subscribe and Publish are Unavailable", func(t *testing.T) {
		hub, client, _, _ := startHub(t, 4)
		closeHub(t, hub)
		ctx := harness.Context(t)
		_, err := recv(t, openStream(t, ctx, client, "ann"), `the answer to Subscribe(name="ann") after the hub closed`)
		harness.AssertCode(t, err, codes.Unavailable, `Subscribe(name="ann") after the hub closed`)
		_, err = client.Publish(ctx, &pubsubpb.PublishRequest{Payload: "too late"})
		harness.AssertCode(t, err, codes.Unavailable, `Publish after the hub closed`)
	})
	t.Run("an error the table does not list is Internal", func(t *testing.T) {
		harness.AssertCode(t, pubsub.StatusFromHub(errors.New("disk on fire")), codes.Internal, `statusFromHub(errors.New("disk on fire"))`)
	})
}

// --- Task 8: Shut down in the right order ---

func TestPubSub_Shutdown_GoodbyeThenEOF_GracefulStopReturns(t *testing.T) {
	// Shutdown lets every subscriber hear its last messages and Goodbye, then
	// io.EOF; every handler returns nil, and Shutdown returns.
	hub, client, srv, gs := startHub(t, 16)
	ctx := harness.Context(t)

	names := []string{"ann", "bob", "cy"}
	var streams []eventStream
	for i, name := range names {
		s := openStream(t, ctx, client, name)
		requireEvent(t, s, first(name, i+1), name+"'s first event")
		streams = append(streams, s)
	}
	_, err := client.Publish(ctx, &pubsubpb.PublishRequest{Payload: "closing soon"})
	harness.RequireOK(t, err, `Publish(payload="closing soon")`)

	done := make(chan struct{})
	go func() {
		defer close(done)
		pubsub.Shutdown(hub, gs)
	}()

	for i, s := range streams {
		requireEvent(t, s, message(1, "closing soon"), names[i]+"'s message before shutdown")
		requireEvent(t, s, goodbye(0), names[i]+"'s last event")
		recvEOF(t, s, names[i]+"'s Recv after Goodbye")
	}
	for range names {
		returned := srv.HandlerReturned(t, "Subscribe")
		harness.AssertCode(t, returned.Err, codes.OK, "a Subscribe handler's returned error after the hub closed")
	}
	harness.Wait(t, done, "pubsub.Shutdown to return: GracefulStop waits for every open stream, so close the hub first")
}

func TestPubSub_Shutdown_WaitsForEveryHandler(t *testing.T) {
	// Shutdown returns only once every Subscribe handler has returned:
	// GracefulStop, called by Shutdown itself (not on another goroutine, and
	// not Stop, which does not wait). Here the handlers are held open after
	// your code returns, until the test sees Shutdown waiting in GracefulStop.
	hub := pubsub.NewHub(16)
	held := newHeldServer(pubsub.NewServer(hub))
	var gs *grpc.Server
	srv := harness.Start(t, func(s *grpc.Server) {
		gs = s
		pubsubpb.RegisterHubServer(s, held)
	})
	t.Cleanup(held.releaseAll) // before the server stops, even if the test failed
	client := pubsubpb.NewHubClient(srv.Conn)
	ctx := harness.Context(t)
	for i, name := range []string{"ann", "bob"} {
		requireEvent(t, openStream(t, ctx, client, name), first(name, i+1), name+"'s first event")
	}

	held.hold.Store(true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		pubsub.Shutdown(hub, gs)
	}()
	for range 2 {
		err := harness.Wait(t, held.returned, "a Subscribe handler to return once Shutdown closed the hub")
		assert.NoError(t, err, "a Subscribe handler's returned error after the hub closed")
	}
	// Both handlers are held now: a Shutdown that waits for them cannot
	// have returned, and must be inside GracefulStop.
	waitForShutdownInGracefulStop(t, done)
	held.releaseAll()
	harness.Wait(t, done, "pubsub.Shutdown to return once every handler had returned")
}
