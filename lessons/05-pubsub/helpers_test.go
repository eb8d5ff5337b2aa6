package pubsub_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/grpc-workbook/streaming/internal/harness"
	pubsub "github.com/grpc-workbook/streaming/lessons/05-pubsub"
	"github.com/grpc-workbook/streaming/lessons/05-pubsub/pubsubpb"
)

const (
	task1  = "Task 1: Register subscribers"
	task2  = "Task 2: Fan out in publish order"
	task3  = "Task 3: Never wait for a slow subscriber"
	task4  = "Task 4: Tick for everyone"
	task5  = "Task 5: Close the hub"
	task6  = "Task 6: Stream the hub over gRPC"
	task7  = "Task 7: Reject bad names with clear codes"
	task8  = "Task 8: Shut down in the right order"
	task9  = "Task 9: Tell events apart on the client"
	task10 = "Task 10: Listen until Goodbye"
	task11 = "Task 11: Hold up under load"
)

// see is the pointer to the README every failure message ends with.
func see(task string) string { return fmt.Sprintf("see README.md, %q", task) }

// Event constructors, so that tests can spell out the events they expect.

func first(name string, subscribers int) *pubsubpb.Event {
	return &pubsubpb.Event{Kind: &pubsubpb.Event_First{First: &pubsubpb.First{Name: name, Subscribers: uint32(subscribers)}}}
}

func message(seq uint64, payload string) *pubsubpb.Event {
	return &pubsubpb.Event{Kind: &pubsubpb.Event_Message{Message: &pubsubpb.Message{Seq: seq, Payload: payload}}}
}

func timer(tick uint64) *pubsubpb.Event {
	return &pubsubpb.Event{Kind: &pubsubpb.Event_Timer{Timer: &pubsubpb.Timer{Tick: tick}}}
}

func goodbye(dropped uint64) *pubsubpb.Event {
	return &pubsubpb.Event{Kind: &pubsubpb.Event_Goodbye{Goodbye: &pubsubpb.Goodbye{Reason: pubsub.GoodbyeReason, Dropped: dropped}}}
}

// show renders events one per line for failure messages.
func show(events []*pubsubpb.Event) string {
	if len(events) == 0 {
		return "  (none)"
	}
	var b strings.Builder
	for _, ev := range events {
		fmt.Fprintf(&b, "  {%s}\n", prototext.MarshalOptions{}.Format(ev))
	}
	return b.String()
}

// sameEvents reports whether got and want hold equal events in the same order.
func sameEvents(got, want []*pubsubpb.Event) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !proto.Equal(got[i], want[i]) {
			return false
		}
	}
	return true
}

// assertEvents checks a list of events, in order.
func assertEvents(t *testing.T, got, want []*pubsubpb.Event, what, task string) bool {
	t.Helper()
	if sameEvents(got, want) {
		return true
	}
	t.Errorf("%s: got events\n%swant\n%s%s", what, show(got), show(want), see(task))
	return false
}

// subscribe calls hub.Subscribe and stops the test if it fails.
func subscribe(t *testing.T, hub *pubsub.Hub, name, task string) *pubsub.Subscription {
	t.Helper()
	sub, err := hub.Subscribe(name)
	require.NoError(t, err, "hub.Subscribe(%q) failed: %s", name, see(task))
	require.NotNil(t, sub, "hub.Subscribe(%q) returned no subscription and no error: %s", name, see(task))
	return sub
}

// queued takes every event waiting in sub's queue without waiting for more,
// and says whether the queue was closed after them. Hub calls are
// synchronous, so once Publish (or Close...) returned, its events are there.
func queued(sub *pubsub.Subscription) (events []*pubsubpb.Event, closed bool) {
	for {
		select {
		case ev, ok := <-sub.Events():
			if !ok {
				return events, true
			}
			events = append(events, ev)
		default:
			return events, false
		}
	}
}

// assertQueue checks what sits in sub's queue right now, and whether the
// queue is closed after it.
func assertQueue(t *testing.T, sub *pubsub.Subscription, want []*pubsubpb.Event, wantClosed bool, task string) {
	t.Helper()
	got, closed := queued(sub)
	assertEvents(t, got, want, fmt.Sprintf("%q's queue", sub.Name()), task)
	if closed != wantClosed {
		t.Errorf("%q's queue: got closed=%v after its events, want %v: %s", sub.Name(), closed, wantClosed, see(task))
	}
}

// changedAlready checks that a channel from SubscriberCount was closed.
func changedAlready(t *testing.T, changed <-chan struct{}, after, task string) {
	t.Helper()
	select {
	case <-changed:
	default:
		t.Errorf("the channel from SubscriberCount was not closed after %s: the count changed, so call h.notifyLocked(); %s", after, see(task))
	}
}

// waitForCount waits until hub has n subscribers, woken by the hub's change
// signal: never by polling or sleeping.
func waitForCount(t *testing.T, hub *pubsub.Hub, n int, task string) {
	t.Helper()
	for {
		got, changed := hub.SubscriberCount()
		if got == n {
			return
		}
		harness.Wait(t, changed, fmt.Sprintf("the hub's subscriber count to go from %d to %d (%s)", got, n, see(task)))
	}
}

// startHub serves a new hub in memory. The hub is closed when the test ends,
// before the server stops, so no Subscribe handler is left waiting.
func startHub(t *testing.T, queueSize int) (*pubsub.Hub, pubsubpb.HubClient, *harness.Server, *grpc.Server) {
	t.Helper()
	hub := pubsub.NewHub(queueSize)
	var gs *grpc.Server
	srv := harness.Start(t, func(s *grpc.Server) {
		gs = s
		pubsubpb.RegisterHubServer(s, pubsub.NewServer(hub))
	})
	t.Cleanup(hub.Close) // cleanups run last-in first-out: this one before the server stops
	return hub, pubsubpb.NewHubClient(srv.Conn), srv, gs
}
