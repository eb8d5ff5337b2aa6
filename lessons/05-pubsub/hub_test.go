package pubsub_test

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
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
	// Subscribe queues First (with the count, this subscriber included) in a
	// bounded queue, and closes the channel SubscriberCount handed out.
	hub := pubsub.NewHub(4)

	_, changed := count(t, hub)
	ann := subscribe(t, hub, "ann")
	changedAlready(t, changed, `Subscribe("ann")`)
	assert.Equal(t, 4, cap(ann.Events()), "the queue's capacity: the hub's queue size, so the queue is bounded")
	assertQueue(t, ann, []*pubsubpb.Event{first("ann", 1)}, false)

	bob := subscribe(t, hub, "bob")
	assertQueue(t, bob, []*pubsubpb.Event{first("bob", 2)}, false)

	n, _ := count(t, hub)
	assert.Equal(t, 2, n, "SubscriberCount after ann and bob subscribed")
}

func TestPubSub_Hub_Subscribe_BadNames(t *testing.T) {
	// An empty name is ErrEmptyName; a name in use is ErrNameTaken, with the
	// name in the message. Neither registers anything.
	t.Run("empty name is ErrEmptyName", func(t *testing.T) {
		hub := pubsub.NewHub(4)
		_, err := trySubscribe(t, hub, "")
		assert.ErrorIs(t, err, pubsub.ErrEmptyName, `hub.Subscribe("")`)
		n, _ := count(t, hub)
		assert.Zero(t, n, `SubscriberCount after a refused Subscribe("")`)
	})
	t.Run("a name already subscribed is ErrNameTaken", func(t *testing.T) {
		hub := pubsub.NewHub(4)
		subscribe(t, hub, "ann")
		_, err := trySubscribe(t, hub, "ann")
		require.ErrorIs(t, err, pubsub.ErrNameTaken, `the second hub.Subscribe("ann"): wrap ErrNameTaken with %%w`)
		assert.Contains(t, err.Error(), "ann", `the second hub.Subscribe("ann")'s error should say which name is taken`)
		n, _ := count(t, hub)
		assert.Equal(t, 1, n, `SubscriberCount after a refused second Subscribe("ann")`)
	})
}

func TestPubSub_Hub_Unsubscribe_SignalsAndFreesName(t *testing.T) {
	// Unsubscribe frees the name and signals; a late Unsubscribe of an old
	// subscription leaves a newer one of the same name alone.
	hub := pubsub.NewHub(4)
	old := subscribe(t, hub, "ann")

	_, changed := count(t, hub)
	unsubscribe(t, hub, old)
	changedAlready(t, changed, "Unsubscribe(ann)")
	n, _ := count(t, hub)
	require.Zero(t, n, "SubscriberCount after Unsubscribe")

	renewed := subscribe(t, hub, "ann") // the name is free again
	assertQueue(t, renewed, []*pubsubpb.Event{first("ann", 1)}, false)

	// A late second Unsubscribe of the old subscription (a handler's deferred
	// cleanup, say) must not remove the new "ann".
	unsubscribe(t, hub, old)
	n, _ = count(t, hub)
	assert.Equal(t, 1, n, "SubscriberCount after Unsubscribe of an old, already removed subscription named like a current one: "+
		"remove a subscription only if it is still the one registered under its name")
}

func TestPubSub_Hub_ConcurrentSubscribers_OneWinnerPerName(t *testing.T) {
	// The hub is safe for concurrent use. Eight goroutines race for one name
	// (exactly one wins), then each subscribes names of its own and
	// unsubscribes every other one. Run with -race: a map touched without
	// h.mu is reported here.
	const workers, each = 8, 24
	hub := retain(pubsub.NewHub(4))
	oneAtATime(t)

	shared := make([]error, workers)
	problems := make([][]string, workers)
	goAll(t, workers, fmt.Sprintf("%d goroutines to finish subscribing and unsubscribing at once", workers), func(w int) {
		_, shared[w] = hub.Subscribe("shared")
		// Each goroutine ends on an Unsubscribe: a change no later lock of
		// its own orders before the others' next calls, which is what lets
		// the race detector see an Unsubscribe that skips the lock, whatever
		// the order the goroutines happen to run in.
		for i := range each {
			name := fmt.Sprintf("w%d-%d", w, i)
			sub, err := hub.Subscribe(name)
			if err != nil {
				problems[w] = append(problems[w], fmt.Sprintf("hub.Subscribe(%q): %v", name, err))
				continue
			}
			if i%2 == 1 {
				hub.Unsubscribe(sub)
			}
		}
	})

	assert.Empty(t, slices.Concat(problems...), "Subscribe calls with names nobody else used")
	winners := 0
	for _, err := range shared {
		if err == nil {
			winners++
		} else {
			assert.ErrorIs(t, err, pubsub.ErrNameTaken, `a losing hub.Subscribe("shared")`)
		}
	}
	assert.Equal(t, 1, winners, `goroutines whose Subscribe("shared") succeeded: check and register a name in one hold of h.mu`)
	n, _ := count(t, hub)
	assert.Equal(t, 1+workers*each/2, n, `SubscriberCount: "shared" and every name that was not unsubscribed`)
}

// --- Task 2: Fan out in publish order ---

func TestPubSub_Hub_Publish_EverySubscriberInOrder(t *testing.T) {
	// Publish numbers messages 1, 2, 3, ... and queues each for everyone
	// subscribed at that moment; a newcomer hears only what comes after.
	hub := pubsub.NewHub(16)
	ann := subscribe(t, hub, "ann")
	bob := subscribe(t, hub, "bob")

	for i, payload := range []string{"a", "b", "c"} {
		seq, n := publish(t, hub, payload)
		assert.Equal(t, uint64(i+1), seq, "hub.Publish(%q)'s sequence number", payload)
		assert.Equal(t, 2, n, "hub.Publish(%q)'s subscriber count", payload)
	}
	abc := []*pubsubpb.Event{message(1, "a"), message(2, "b"), message(3, "c")}
	assertQueue(t, ann, append([]*pubsubpb.Event{first("ann", 1)}, abc...), false)
	assertQueue(t, bob, append([]*pubsubpb.Event{first("bob", 2)}, abc...), false)

	cy := subscribe(t, hub, "cy")
	_, n := publish(t, hub, "d")
	assert.Equal(t, 3, n, `hub.Publish("d")'s subscriber count after cy joined`)
	assertQueue(t, cy, []*pubsubpb.Event{first("cy", 3), message(4, "d")}, false)
	assertQueue(t, ann, []*pubsubpb.Event{message(4, "d")}, false)
}

func TestPubSub_Hub_Publish_NobodySubscribed_StillNumbered(t *testing.T) {
	// A message published to nobody still takes its number, and reports 0
	// subscribers: 0 is a valid count, not an error.
	hub := pubsub.NewHub(4)
	seq, n := publish(t, hub, "to nobody")
	assert.Equal(t, uint64(1), seq, `the sequence number of the first Publish, with nobody subscribed`)
	assert.Zero(t, n, `hub.Publish's subscriber count with nobody subscribed`)

	ann := subscribe(t, hub, "ann")
	seq, n = publish(t, hub, "to ann")
	assert.Equal(t, uint64(2), seq, `the second Publish's sequence number: the first took 1 though nobody heard it`)
	assert.Equal(t, 1, n, `hub.Publish's subscriber count with ann subscribed`)
	assertQueue(t, ann, []*pubsubpb.Event{first("ann", 1), message(2, "to ann")}, false)
}

func TestPubSub_Hub_ConcurrentPublishers_OneOrderForEveryone(t *testing.T) {
	// Four goroutines publish at once, each also subscribing and
	// unsubscribing a name of its own between messages. Every number is
	// handed out once, and every subscriber sees all messages in the order of
	// their numbers. Run with -race: a counter or map touched without h.mu is
	// reported here, every run (see oneAtATime).
	const publishers, each = 4, 50
	const total = publishers * each
	hub := retain(pubsub.NewHub(total + 1)) // room for everything: nothing is dropped in this test
	steady := []*pubsub.Subscription{subscribe(t, hub, "ann"), subscribe(t, hub, "bob"), subscribe(t, hub, "cy")}
	oneAtATime(t)

	seqs := make([][]uint64, publishers)
	errs := make([]error, publishers)
	goAll(t, publishers, fmt.Sprintf("%d goroutines to finish publishing at once", publishers), func(w int) {
		// Each goroutine ends on a Publish: its fan-out is then followed by
		// another goroutine's Subscribe, with nothing of its own in between,
		// which is what lets the race detector see a fan-out that skips the
		// lock, whatever the order the goroutines happen to run in.
		for i := range each {
			if i > 0 {
				sub, err := hub.Subscribe(fmt.Sprintf("passer-%d", w))
				if err != nil {
					errs[w] = err
					return
				}
				hub.Unsubscribe(sub)
			}
			seq, _, err := hub.Publish(fmt.Sprintf("p%d-%d", w, i))
			if err != nil {
				errs[w] = err
				return
			}
			seqs[w] = append(seqs[w], seq)
			runtime.Gosched() // another goroutine's turn: its Subscribe comes right after this fan-out
		}
	})
	require.NoError(t, errors.Join(errs...), "hub calls made at the same time as others")

	// payloads[seq] is the payload Publish numbered seq.
	payloads := map[uint64]string{}
	for w, mine := range seqs {
		assert.True(t, slices.IsSorted(mine), "the numbers one goroutine's Publish calls returned, in call order: %v", mine)
		for i, seq := range mine {
			if other, dup := payloads[seq]; dup {
				t.Errorf("hub.Publish returned %d for both %q and %q: number and queue under one hold of h.mu", seq, other, fmt.Sprintf("p%d-%d", w, i))
			}
			payloads[seq] = fmt.Sprintf("p%d-%d", w, i)
		}
	}
	want := make([]*pubsubpb.Event, 0, total)
	for seq := uint64(1); seq <= total; seq++ {
		want = append(want, message(seq, payloads[seq]))
	}
	for i, sub := range steady {
		got, _ := queued(sub)
		if !assertEvents(t, append([]*pubsubpb.Event{first(sub.Name(), i+1)}, want...), got,
			fmt.Sprintf("%s's queue after %d concurrent Publish calls: First, then every message in number order", sub.Name(), total)) {
			return
		}
	}
}

// --- Task 3: Never wait for a slow subscriber ---

func TestPubSub_Hub_SlowSubscriber_DropsOldestAndCounts(t *testing.T) {
	// A full queue drops its oldest event and counts it; Publish never waits,
	// and a subscriber that keeps up loses nothing.
	hub := pubsub.NewHub(4)
	slow := subscribe(t, hub, "slow") // never reads until the end
	fast := subscribe(t, hub, "fast") // reads after every Publish
	assertQueue(t, fast, []*pubsubpb.Event{first("fast", 2)}, false)

	for i := 1; i <= 10; i++ {
		payload := fmt.Sprintf("m%d", i)
		publish(t, hub, payload)
		got, _ := queued(fast)
		if !assertEvents(t, []*pubsubpb.Event{message(uint64(i), payload)}, got, `"fast" reads after every Publish; its queue`) {
			return
		}
	}

	// slow's queue held First and 10 messages, 4 at a time: the 4 newest stay.
	assertQueue(t, slow, []*pubsubpb.Event{message(7, "m7"), message(8, "m8"), message(9, "m9"), message(10, "m10")}, false)
	assert.Equal(t, uint64(7), slow.Dropped(), "slow.Dropped() after First and 10 messages went through a queue of 4")
	assert.Zero(t, fast.Dropped(), "fast.Dropped(): fast kept up, so nothing of its may be dropped")
}

func TestPubSub_Hub_QueueLimit_HoldsQueueSize_DropsOnePast(t *testing.T) {
	// Both sides of the limit: a queue holds exactly queueSize events with
	// nothing dropped; one event more drops exactly one, the oldest.
	hub := pubsub.NewHub(3)
	ann := subscribe(t, hub, "ann")
	publish(t, hub, "a")
	publish(t, hub, "b") // First, a, b: exactly full
	assert.Zero(t, ann.Dropped(), "ann.Dropped() with the queue exactly full (3 of 3): a full queue drops nothing until one more comes")

	publish(t, hub, "c") // one past the limit
	assert.Equal(t, uint64(1), ann.Dropped(), "ann.Dropped() after one event more than the queue holds")
	assertQueue(t, ann, []*pubsubpb.Event{message(1, "a"), message(2, "b"), message(3, "c")}, false)
}

func TestPubSub_Hub_ReaderRacesPublisher_EveryEventDeliveredOrCounted(t *testing.T) {
	// Subscribers read while Publish keeps their small queues full, so a
	// reader often takes the oldest event just as makeRoom wants to drop it.
	// Every event must be received or counted as dropped, in order, and
	// Publish must never wait: not for "asleep", who never reads, and not in
	// a receive in makeRoom that finds the queue emptied under it.
	const subscribers = 4
	messages := uint64(readerRaceMessages)
	hub := pubsub.NewHub(1)
	asleep := subscribe(t, hub, "asleep")
	subs := make([]*pubsub.Subscription, subscribers)
	for i := range subs {
		subs[i] = subscribe(t, hub, fmt.Sprintf("reader-%d", i))
	}

	received := make([]int, subscribers)    // events received, First included
	outOfOrder := make([]bool, subscribers) // a Message numbered below the one before
	var publishErr error
	goAll(t, subscribers+1, fmt.Sprintf("%d messages to be published to %d subscribers whose queues of 1 they read at the same time", messages, subscribers), func(w int) {
		if w == subscribers {
			for range messages {
				if _, _, err := hub.Publish("news"); err != nil {
					publishErr = err
					return
				}
			}
			return
		}
		// As little work per event as possible: the faster a reader empties
		// its queue, the more often it does so under makeRoom's feet.
		var last uint64
		for ev := range subs[w].Events() {
			received[w]++
			seq := ev.GetMessage().GetSeq()
			if seq != 0 && seq <= last {
				outOfOrder[w] = true
			}
			if seq == messages { // the newest is never dropped
				return
			}
			last = max(last, seq)
		}
	})
	require.NoError(t, publishErr, "hub.Publish")

	assertQueue(t, asleep, []*pubsubpb.Event{message(messages, "news")}, false)
	assert.Equal(t, uint64(messages), asleep.Dropped(), `asleep.Dropped(): every event but the newest`)
	for w, sub := range subs {
		assert.False(t, outOfOrder[w], "%s received messages out of order", sub.Name())
		assert.Equal(t, uint64(messages+1), uint64(received[w])+sub.Dropped(),
			"%s: events received + Dropped() should be every event queued for it (First and %d messages)", sub.Name(), messages)
	}
}

// --- Task 4: Tick for everyone ---

func TestPubSub_Hub_RunTimer_ExactTicksForEverySubscriber(t *testing.T) {
	// Every tick reaches every current subscriber as a Timer event. The hub
	// numbers ticks on its own count (not the messages'), and counts a tick
	// that nobody hears too: Timer.tick is ticks since the hub started.
	hub := pubsub.NewHub(8)
	runTimer(t, hub, 2) // ticks 1 and 2: nobody is subscribed yet
	ann := subscribe(t, hub, "ann")
	runTimer(t, hub, 2) // ticks 3 and 4
	publish(t, hub, "between ticks")
	bob := subscribe(t, hub, "bob")
	runTimer(t, hub, 1) // tick 5

	assertQueue(t, ann, []*pubsubpb.Event{first("ann", 1), timer(3), timer(4), message(1, "between ticks"), timer(5)}, false)
	assertQueue(t, bob, []*pubsubpb.Event{first("bob", 2), timer(5)}, false)
}

// --- Task 5: Close the hub ---

func TestPubSub_Hub_Close_GoodbyeLastThenQueueCloses(t *testing.T) {
	// Close queues Goodbye last, closes every queue, forgets everyone and
	// signals the change.
	hub := pubsub.NewHub(4)
	ann := subscribe(t, hub, "ann")
	bob := subscribe(t, hub, "bob")
	publish(t, hub, "last words")

	_, changed := count(t, hub)
	closeHub(t, hub)
	changedAlready(t, changed, "Close()")
	n, _ := count(t, hub)
	assert.Zero(t, n, "SubscriberCount after Close: the hub forgets everyone")
	assertQueue(t, ann, []*pubsubpb.Event{first("ann", 1), message(1, "last words"), goodbye(0)}, true)
	assertQueue(t, bob, []*pubsubpb.Event{first("bob", 2), message(1, "last words"), goodbye(0)}, true)
}

func TestPubSub_Hub_Close_FullQueue_GoodbyeStillArrives(t *testing.T) {
	// A full queue still gets its Goodbye: Close makes room first, and
	// Goodbye counts the drop that making room cost.
	hub := pubsub.NewHub(2)
	slow := subscribe(t, hub, "slow")
	for _, p := range []string{"a", "b", "c"} {
		publish(t, hub, p)
	} // the queue is full: b, c (First and a were dropped)

	closeHub(t, hub)
	// Making room dropped b as well, and Goodbye counts it.
	assertQueue(t, slow, []*pubsubpb.Event{message(3, "c"), goodbye(3)}, true)
}

func TestPubSub_Hub_AfterClose_RefusesWork(t *testing.T) {
	// After Close, Subscribe and Publish get ErrClosed; a second Close and a
	// late Unsubscribe do nothing, and neither panics.
	hub := pubsub.NewHub(4)
	ann := subscribe(t, hub, "ann")
	closeHub(t, hub)

	_, err := trySubscribe(t, hub, "bob")
	assert.ErrorIs(t, err, pubsub.ErrClosed, `hub.Subscribe("bob") after Close`)
	_, _, err = tryPublish(t, hub, "too late")
	assert.ErrorIs(t, err, pubsub.ErrClosed, "hub.Publish after Close")

	// A handler's deferred Unsubscribe and a second Close both come after
	// Close in real programs.
	unsubscribe(t, hub, ann)
	closeHub(t, hub)
	n, _ := count(t, hub)
	assert.Zero(t, n, "SubscriberCount after Close")
}

func TestPubSub_Hub_Close_StopsRunTimer(t *testing.T) {
	// RunTimer returns once the hub is closed, even though its ticks channel
	// stays open.
	hub := pubsub.NewHub(8)
	ann := subscribe(t, hub, "ann")
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
			t.Fatalf("hub.RunTimer returned after %d ticks, with the hub open and its ticks channel too", i)
		case <-harness.Timeout():
			harness.Blocked(t, fmt.Sprintf("hub.RunTimer to take tick %d", i+1))
		}
	}

	closeHub(t, hub)
	harness.Wait(t, done, "hub.RunTimer to return after hub.Close, with its ticks channel still open: watch h.done")
	// Tick 2 raced with Close: it may have been queued before Goodbye, or not.
	got, closed := queued(ann)
	if len(got) == 4 && proto.Equal(got[2], timer(2)) {
		got = slices.Delete(got, 2, 3)
	}
	assertEvents(t, []*pubsubpb.Event{first("ann", 1), timer(1), goodbye(0)}, got, `ann's queue (with tick 2 left out if it came)`)
	assert.True(t, closed, "ann's queue is closed after Close")
}
