package pubsub_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/grpc-workbook/streaming/internal/harness"
	pubsub "github.com/grpc-workbook/streaming/lessons/05-pubsub"
	"github.com/grpc-workbook/streaming/lessons/05-pubsub/pubsubpb"
)

// --- Task 1: Register subscribers ---

func TestPubSub_Hub_Subscribe_QueuesFirstAndSignals(t *testing.T) {
	hub := pubsub.NewHub(4)

	_, changed := hub.SubscriberCount()
	ann := subscribe(t, hub, "ann", task1)
	changedAlready(t, changed, `Subscribe("ann")`, task1)
	assert.Equal(t, 4, cap(ann.Events()), "the queue's capacity: got (left), want the hub's queue size (right); the queue must be bounded: %s", see(task1))
	assertQueue(t, ann, []*pubsubpb.Event{first("ann", 1)}, false, task1)

	bob := subscribe(t, hub, "bob", task1)
	assertQueue(t, bob, []*pubsubpb.Event{first("bob", 2)}, false, task1)

	n, _ := hub.SubscriberCount()
	assert.Equal(t, 2, n, "SubscriberCount after ann and bob subscribed: got (left), want (right); %s", see(task1))
}

func TestPubSub_Hub_Subscribe_BadNames(t *testing.T) {
	t.Run("empty name is ErrEmptyName", func(t *testing.T) {
		hub := pubsub.NewHub(4)
		_, err := hub.Subscribe("")
		assert.ErrorIs(t, err, pubsub.ErrEmptyName, `hub.Subscribe(""): %s`, see(task1))
		n, _ := hub.SubscriberCount()
		assert.Zero(t, n, `SubscriberCount after a refused Subscribe(""): %s`, see(task1))
	})
	t.Run("a name already subscribed is ErrNameTaken", func(t *testing.T) {
		hub := pubsub.NewHub(4)
		subscribe(t, hub, "ann", task1)
		_, err := hub.Subscribe("ann")
		assert.ErrorIs(t, err, pubsub.ErrNameTaken, `the second hub.Subscribe("ann"): %s`, see(task1))
		n, _ := hub.SubscriberCount()
		assert.Equal(t, 1, n, `SubscriberCount after a refused second Subscribe("ann"): %s`, see(task1))
	})
}

func TestPubSub_Hub_Unsubscribe_SignalsAndFreesName(t *testing.T) {
	hub := pubsub.NewHub(4)
	old := subscribe(t, hub, "ann", task1)

	_, changed := hub.SubscriberCount()
	hub.Unsubscribe(old)
	changedAlready(t, changed, "Unsubscribe(ann)", task1)
	n, _ := hub.SubscriberCount()
	require.Zero(t, n, "SubscriberCount after Unsubscribe: %s", see(task1))

	renewed := subscribe(t, hub, "ann", task1) // the name is free again
	assertQueue(t, renewed, []*pubsubpb.Event{first("ann", 1)}, false, task1)

	// A late second Unsubscribe of the old subscription (a handler's deferred
	// cleanup, say) must not remove the new "ann".
	hub.Unsubscribe(old)
	n, _ = hub.SubscriberCount()
	assert.Equal(t, 1, n, "SubscriberCount after Unsubscribe of an old, already removed subscription named like a current one: "+
		"remove a subscription only if it is still the one registered under its name; %s", see(task1))
}

// --- Task 2: Fan out in publish order ---

func TestPubSub_Hub_Publish_EverySubscriberInOrder(t *testing.T) {
	hub := pubsub.NewHub(16)
	ann := subscribe(t, hub, "ann", task1)
	bob := subscribe(t, hub, "bob", task1)

	for i, payload := range []string{"a", "b", "c"} {
		seq, n, err := hub.Publish(payload)
		require.NoError(t, err, "hub.Publish(%q): %s", payload, see(task2))
		assert.Equal(t, uint64(i+1), seq, "hub.Publish(%q)'s sequence number: got (left), want (right); %s", payload, see(task2))
		assert.Equal(t, 2, n, "hub.Publish(%q)'s subscriber count: got (left), want (right); %s", payload, see(task2))
	}
	abc := []*pubsubpb.Event{message(1, "a"), message(2, "b"), message(3, "c")}
	assertQueue(t, ann, append([]*pubsubpb.Event{first("ann", 1)}, abc...), false, task2)
	assertQueue(t, bob, append([]*pubsubpb.Event{first("bob", 2)}, abc...), false, task2)

	// A newcomer hears only what is published after it joined.
	cy := subscribe(t, hub, "cy", task1)
	_, n, err := hub.Publish("d")
	require.NoError(t, err, `hub.Publish("d"): %s`, see(task2))
	assert.Equal(t, 3, n, `hub.Publish("d")'s subscriber count after cy joined: %s`, see(task2))
	assertQueue(t, cy, []*pubsubpb.Event{first("cy", 3), message(4, "d")}, false, task2)
	assertQueue(t, ann, []*pubsubpb.Event{message(4, "d")}, false, task2)
}

// --- Task 3: Never wait for a slow subscriber ---

// publishNoWait publishes on another goroutine and fails the test if Publish
// does not return: it must never wait for a subscriber.
func publishNoWait(t *testing.T, hub *pubsub.Hub, payload string) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, _, err := hub.Publish(payload)
		done <- err
	}()
	err := harness.Wait(t, done, fmt.Sprintf("hub.Publish(%q) to return while a subscriber's queue is full: "+
		"Publish must never wait for a subscriber (%s)", payload, see(task3)))
	require.NoError(t, err, "hub.Publish(%q): %s", payload, see(task2))
}

func TestPubSub_Hub_SlowSubscriber_DropsOldestAndCounts(t *testing.T) {
	hub := pubsub.NewHub(4)
	slow := subscribe(t, hub, "slow", task1) // never reads until the end
	fast := subscribe(t, hub, "fast", task1) // reads after every Publish
	assertQueue(t, fast, []*pubsubpb.Event{first("fast", 2)}, false, task3)

	for i := 1; i <= 10; i++ {
		payload := fmt.Sprintf("m%d", i)
		publishNoWait(t, hub, payload)
		if !assertQueue1(t, fast, message(uint64(i), payload)) {
			return
		}
	}

	// slow's queue held First and 10 messages, 4 at a time: the 4 newest stay.
	assertQueue(t, slow, []*pubsubpb.Event{message(7, "m7"), message(8, "m8"), message(9, "m9"), message(10, "m10")}, false, task3)
	assert.Equal(t, uint64(7), slow.Dropped(), "slow.Dropped() after First and 10 messages went through a queue of 4: got (left), want (right); %s", see(task3))
	assert.Zero(t, fast.Dropped(), "fast.Dropped(): fast kept up, so nothing of its may be dropped; %s", see(task3))
}

// assertQueue1 checks that sub's queue holds exactly want.
func assertQueue1(t *testing.T, sub *pubsub.Subscription, want *pubsubpb.Event) bool {
	t.Helper()
	got, _ := queued(sub)
	return assertEvents(t, got, []*pubsubpb.Event{want},
		fmt.Sprintf("%q keeps up, reading after every Publish; its queue", sub.Name()), task3)
}

// --- Task 4: Tick for everyone ---

// runTimer runs hub.RunTimer on a ticks channel of its own, sends it n
// ticks, closes the channel and waits for RunTimer to return: after that,
// every Timer event is queued.
func runTimer(t *testing.T, hub *pubsub.Hub, n int) {
	t.Helper()
	ticks := make(chan time.Time) // unbuffered: a send completes when RunTimer takes the tick
	done := make(chan struct{})
	go func() {
		defer close(done)
		hub.RunTimer(ticks)
	}()
	for i := range n {
		select {
		case ticks <- time.Time{}:
		case <-done:
			t.Fatalf("hub.RunTimer returned after %d of %d ticks, before its ticks channel was closed: %s", i, n, see(task4))
		}
	}
	close(ticks)
	harness.Wait(t, done, fmt.Sprintf("hub.RunTimer to return once its ticks channel was closed (%s)", see(task4)))
}

func TestPubSub_Hub_RunTimer_ExactTicksForEverySubscriber(t *testing.T) {
	hub := pubsub.NewHub(8)
	ann := subscribe(t, hub, "ann", task1)
	runTimer(t, hub, 2)
	bob := subscribe(t, hub, "bob", task1)
	runTimer(t, hub, 1) // the hub keeps counting: this is tick 3

	assertQueue(t, ann, []*pubsubpb.Event{first("ann", 1), timer(1), timer(2), timer(3)}, false, task4)
	assertQueue(t, bob, []*pubsubpb.Event{first("bob", 2), timer(3)}, false, task4)
}

func TestPubSub_Hub_RunTimer_StopsWhenHubCloses(t *testing.T) {
	hub := pubsub.NewHub(8)
	ann := subscribe(t, hub, "ann", task1)
	ticks := make(chan time.Time) // never closed: only Close can stop RunTimer
	done := make(chan struct{})
	go func() {
		defer close(done)
		hub.RunTimer(ticks)
	}()
	for i := range 2 { // taking tick 2 means RunTimer is done with tick 1
		select {
		case ticks <- time.Time{}:
		case <-done:
			t.Fatalf("hub.RunTimer returned after %d ticks, with the hub open and its ticks channel too: %s", i, see(task4))
		}
	}

	hub.Close()
	harness.Wait(t, done, fmt.Sprintf("hub.RunTimer to return after hub.Close, with its ticks channel still open (%s)", see(task4)))
	// Tick 2 raced with Close: it may have been queued before Goodbye, or not.
	got, closed := queued(ann)
	if len(got) == 4 && proto.Equal(got[2], timer(2)) {
		got = append(got[:2], got[3])
	}
	assertEvents(t, got, []*pubsubpb.Event{first("ann", 1), timer(1), goodbye(0)}, `ann's queue (with tick 2 left out if it came)`, task4)
	assert.True(t, closed, "ann's queue after Close: want it closed; %s", see(task5))
}

// --- Task 5: Close the hub ---

func TestPubSub_Hub_Close_GoodbyeLastThenQueueCloses(t *testing.T) {
	hub := pubsub.NewHub(4)
	ann := subscribe(t, hub, "ann", task1)
	bob := subscribe(t, hub, "bob", task1)
	_, _, err := hub.Publish("last words")
	require.NoError(t, err, "hub.Publish: %s", see(task2))

	_, changed := hub.SubscriberCount()
	hub.Close()
	changedAlready(t, changed, "Close()", task5)
	n, _ := hub.SubscriberCount()
	assert.Zero(t, n, "SubscriberCount after Close: the hub forgets everyone; %s", see(task5))
	assertQueue(t, ann, []*pubsubpb.Event{first("ann", 1), message(1, "last words"), goodbye(0)}, true, task5)
	assertQueue(t, bob, []*pubsubpb.Event{first("bob", 2), message(1, "last words"), goodbye(0)}, true, task5)
}

func TestPubSub_Hub_Close_FullQueue_GoodbyeStillArrives(t *testing.T) {
	hub := pubsub.NewHub(2)
	slow := subscribe(t, hub, "slow", task1)
	for _, p := range []string{"a", "b", "c"} {
		publishNoWait(t, hub, p)
	} // the queue is full: b, c (First and a were dropped)

	done := make(chan struct{})
	go func() {
		defer close(done)
		hub.Close()
	}()
	harness.Wait(t, done, fmt.Sprintf("hub.Close to return while a queue is full: make room for Goodbye first (%s)", see(task5)))
	// Making room dropped b as well, and Goodbye counts it.
	assertQueue(t, slow, []*pubsubpb.Event{message(3, "c"), goodbye(3)}, true, task5)
}

func TestPubSub_Hub_AfterClose_RefusesWork(t *testing.T) {
	hub := pubsub.NewHub(4)
	ann := subscribe(t, hub, "ann", task1)
	hub.Close()

	_, err := hub.Subscribe("bob")
	assert.ErrorIs(t, err, pubsub.ErrClosed, `hub.Subscribe("bob") after Close: %s`, see(task5))
	_, _, err = hub.Publish("too late")
	assert.ErrorIs(t, err, pubsub.ErrClosed, "hub.Publish after Close: %s", see(task5))

	// A handler's deferred Unsubscribe and a second Close both come after
	// Close in real programs: neither may panic or change anything.
	hub.Unsubscribe(ann)
	hub.Close()
	n, _ := hub.SubscriberCount()
	assert.Zero(t, n, "SubscriberCount after Close: %s", see(task5))
}
