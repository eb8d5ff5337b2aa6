package pubsub_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

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

// eventStream is the client's end of a Subscribe call.
type eventStream = grpc.ServerStreamingClient[pubsubpb.Event]

// openStream subscribes as name and returns the stream. Nothing has been
// received yet: the server's answer (First, or a status) comes with Recv.
func openStream(t *testing.T, ctx context.Context, client pubsubpb.HubClient, name, task string) eventStream {
	t.Helper()
	stream, err := client.Subscribe(ctx, &pubsubpb.SubscribeRequest{Name: name})
	harness.RequireOK(t, err, fmt.Sprintf("Subscribe(name=%q)", name), task)
	return stream
}

// recvEvent receives one event and stops the test on any error.
func recvEvent(t *testing.T, stream eventStream, what, task string) *pubsubpb.Event {
	t.Helper()
	ev, err := stream.Recv()
	harness.RequireOK(t, err, "Recv of "+what, task)
	return ev
}

// requireEvent receives one event and checks it is want.
func requireEvent(t *testing.T, stream eventStream, want *pubsubpb.Event, what, task string) {
	t.Helper()
	got := recvEvent(t, stream, what, task)
	require.Truef(t, proto.Equal(got, want), "%s: got\n%swant\n%s%s", what, show([]*pubsubpb.Event{got}), show([]*pubsubpb.Event{want}), see(task))
}

// --- Task 6: Stream the hub over gRPC ---

func TestPubSub_Subscribe_FirstThenMessagesInOrder(t *testing.T) {
	_, client, _, _ := startHub(t, 16)
	ctx := harness.Context(t)

	ann := openStream(t, ctx, client, "ann", task6)
	requireEvent(t, ann, first("ann", 1), `ann's first event`, task6)
	bob := openStream(t, ctx, client, "bob", task6)
	requireEvent(t, bob, first("bob", 2), `bob's first event`, task6)
	// Both have received First, so both are registered: nothing published
	// from here on can miss them.

	const n = 5
	for i := 1; i <= n; i++ {
		reply, err := client.Publish(ctx, &pubsubpb.PublishRequest{Payload: fmt.Sprintf("m%d", i)})
		harness.RequireOK(t, err, fmt.Sprintf("Publish(payload=\"m%d\")", i), task6)
		want := &pubsubpb.PublishReply{Seq: uint64(i), Subscribers: 2}
		assert.Truef(t, proto.Equal(reply, want), "Publish's reply: got {%v}, want {%v}; %s", reply, want, see(task6))
	}
	for _, stream := range []eventStream{ann, bob} {
		for i := 1; i <= n; i++ {
			requireEvent(t, stream, message(uint64(i), fmt.Sprintf("m%d", i)), fmt.Sprintf("published message %d of %d", i, n), task6)
		}
	}
}

func TestPubSub_Subscribe_ClientLeaves_HubForgetsIt(t *testing.T) {
	hub, client, srv, _ := startHub(t, 16)

	ctx, cancel := context.WithCancel(harness.Context(t))
	ann := openStream(t, ctx, client, "ann", task6)
	requireEvent(t, ann, first("ann", 1), "ann's first event", task6)
	n, _ := hub.SubscriberCount()
	require.Equal(t, 1, n, "SubscriberCount once ann has received First: %s", see(task6))

	cancel() // ann goes away
	_, err := ann.Recv()
	harness.AssertCode(t, err, codes.Canceled, "ann's Recv after cancelling its call", task6)
	returned := srv.HandlerReturned(t, "Subscribe")
	harness.AssertCode(t, returned.Err, codes.Canceled, "the Subscribe handler's returned error after its client left", task6)

	// The count drops through the hub's signal: no sleeping, no polling.
	waitForCount(t, hub, 0, task6)

	again := openStream(t, harness.Context(t), client, "ann", task6)
	requireEvent(t, again, first("ann", 1), `the first event of ann's second Subscribe: the name must be free again`, task6)
}

// --- Task 7: Reject bad names with clear codes ---

func TestPubSub_Subscribe_BadInput_Codes(t *testing.T) {
	t.Run("empty name is InvalidArgument", func(t *testing.T) {
		_, client, _, _ := startHub(t, 4)
		stream := openStream(t, harness.Context(t), client, "", task7)
		_, err := stream.Recv()
		harness.RequireCode(t, err, codes.InvalidArgument, `Subscribe(name="")`, task7)
		assert.Contains(t, statusMessage(err), "name", "the message should say which field is wrong; %s", see(task7))
	})
	t.Run("a name already subscribed is AlreadyExists", func(t *testing.T) {
		_, client, _, _ := startHub(t, 4)
		ctx := harness.Context(t)
		ann := openStream(t, ctx, client, "ann", task7)
		requireEvent(t, ann, first("ann", 1), "the first ann's first event", task7)

		second := openStream(t, ctx, client, "ann", task7)
		_, err := second.Recv()
		harness.RequireCode(t, err, codes.AlreadyExists, `a second Subscribe(name="ann")`, task7)
		assert.Contains(t, statusMessage(err), "ann", "the message should name the taken name; %s", see(task7))
	})
	t.Run("after the hub closed, Subscribe and Publish are Unavailable", func(t *testing.T) {
		hub, client, _, _ := startHub(t, 4)
		hub.Close()
		ctx := harness.Context(t)
		_, err := openStream(t, ctx, client, "ann", task7).Recv()
		harness.AssertCode(t, err, codes.Unavailable, `Subscribe(name="ann") after the hub closed`, task7)
		_, err = client.Publish(ctx, &pubsubpb.PublishRequest{Payload: "too late"})
		harness.AssertCode(t, err, codes.Unavailable, `Publish after the hub closed`, task7)
	})
}

// --- Task 8: Shut down in the right order ---

func TestPubSub_Shutdown_GoodbyeThenEOF_GracefulStopReturns(t *testing.T) {
	hub, client, srv, gs := startHub(t, 16)
	ctx := harness.Context(t)

	names := []string{"ann", "bob", "cy"}
	var streams []eventStream
	for i, name := range names {
		s := openStream(t, ctx, client, name, task8)
		requireEvent(t, s, first(name, i+1), name+"'s first event", task8)
		streams = append(streams, s)
	}
	_, err := client.Publish(ctx, &pubsubpb.PublishRequest{Payload: "closing soon"})
	harness.RequireOK(t, err, "Publish", task6)

	done := make(chan struct{})
	go func() {
		defer close(done)
		pubsub.Shutdown(hub, gs)
	}()

	for i, s := range streams {
		requireEvent(t, s, message(1, "closing soon"), names[i]+"'s message before shutdown", task8)
		requireEvent(t, s, goodbye(0), names[i]+"'s last event", task8)
		_, err := s.Recv()
		require.Truef(t, errors.Is(err, io.EOF), "%s's Recv after Goodbye: got %v, want io.EOF (the handler returned nil); %s", names[i], err, see(task8))
	}
	for range names {
		returned := srv.HandlerReturned(t, "Subscribe")
		harness.AssertCode(t, returned.Err, codes.OK, "a Subscribe handler's returned error after the hub closed", task8)
	}
	harness.Wait(t, done, fmt.Sprintf("Shutdown to return: GracefulStop waits for every open stream, so close the hub first (%s)", see(task8)))
}

// statusMessage is the message part of a status error.
func statusMessage(err error) string {
	return status.Convert(err).Message()
}
