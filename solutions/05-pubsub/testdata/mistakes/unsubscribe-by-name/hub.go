// Mistake: Unsubscribe removes whatever subscription is registered under s's
// name.
//
// Why it is wrong: An old handler's deferred Unsubscribe can run after a new
// client has taken the same name; removing by name then removes the new
// subscriber, whose stream goes silent. Remove only if h.subs[s.name] is s
// itself.
//
// Caught by: TestPubSub_Hub_Unsubscribe_SignalsAndFreesName

// Package pubsub is lesson 05 of the workbook, the capstone: a hub that many
// subscribers stream events from. README.md in this folder tells the story
// and lists the tasks; each TODO below names the task it belongs to.
//
// hub.go is the hub itself, plain Go with no gRPC in it. server.go puts it
// behind the Hub service, and client.go is the subscriber's side.
package pubsub

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grpc-workbook/streaming/lessons/05-pubsub/pubsubpb"
)

// The errors the hub reports. They are plain Go errors: the hub knows nothing
// about gRPC, so server.go turns them into status codes.
var (
	ErrEmptyName = errors.New("subscriber name is empty")
	ErrNameTaken = errors.New("name is already subscribed")
	ErrClosed    = errors.New("the hub is closed")
)

// GoodbyeReason is the reason Close gives in every Goodbye event.
const GoodbyeReason = "the hub is shutting down"

// Hub fans events out to named subscribers. Each subscriber has its own
// bounded queue, so one that falls behind never holds up Publish or the
// others: when its queue is full, the oldest queued event is dropped to make
// room, and counted.
//
// Every field below mu is guarded by mu. Queues are only ever written to with
// mu held, which is what makes the drop-the-oldest step in makeRoom safe.
type Hub struct {
	queueSize int
	done      chan struct{} // closed by Close; RunTimer watches it

	mu      sync.Mutex
	subs    map[string]*Subscription
	changed chan struct{} // closed and replaced each time the subscriber count changes
	closed  bool
	seq     uint64 // the last Message's sequence number
	ticks   uint64 // the last Timer's tick number
}

// NewHub returns an open hub whose subscribers each queue up to queueSize
// events (at least 1).
func NewHub(queueSize int) *Hub {
	return &Hub{
		queueSize: max(queueSize, 1),
		done:      make(chan struct{}),
		subs:      map[string]*Subscription{},
		changed:   make(chan struct{}),
	}
}

// Subscription is one subscriber's place in the hub.
type Subscription struct {
	name    string
	events  chan *pubsubpb.Event // the bounded queue; Close closes it
	dropped atomic.Uint64        // events dropped because the queue was full
}

func newSubscription(name string, queueSize int) *Subscription {
	return &Subscription{name: name, events: make(chan *pubsubpb.Event, queueSize)}
}

// Name is the name the subscription was made with.
func (s *Subscription) Name() string { return s.name }

// Events is the subscriber's queue. It starts with a First event. After Close
// it holds a Goodbye as its last event and is then closed. Events on it are
// shared between subscribers: read them, never change them.
func (s *Subscription) Events() <-chan *pubsubpb.Event { return s.events }

// Dropped is how many events were dropped from the queue so far.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// SubscriberCount returns the number of subscribers, and a channel that is
// closed the next time that number changes. Read both in one call, then wait
// on the channel: a change between two separate calls cannot be missed.
func (h *Hub) SubscriberCount() (n int, changed <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs), h.changed
}

// notifyLocked wakes everyone waiting on a channel from SubscriberCount. Call
// it with h.mu held, after the subscriber count changed.
func (h *Hub) notifyLocked() {
	close(h.changed)
	h.changed = make(chan struct{})
}

// offer queues ev for s without ever blocking. Call it with h.mu held.
func (s *Subscription) offer(ev *pubsubpb.Event) {
	s.makeRoom()
	s.events <- ev // cannot block: only offer adds to the queue, under h.mu
}

// makeRoom makes sure s's queue has a free slot, dropping (and counting) the
// oldest queued event if the queue is full. Call it with h.mu held.
func (s *Subscription) makeRoom() {
	if len(s.events) < cap(s.events) {
		return
	}
	select {
	case <-s.events: // the oldest event
		s.dropped.Add(1)
	default:
		// The subscriber took an event between the check and here: there is
		// room now. Nobody else can fill it, since we hold h.mu.
	}
}

// firstEvent is the welcome event for name.
func firstEvent(name string, subscribers int) *pubsubpb.Event {
	return &pubsubpb.Event{Kind: &pubsubpb.Event_First{First: &pubsubpb.First{Name: name, Subscribers: uint32(subscribers)}}}
}

// Subscribe registers name and returns its subscription, whose queue already
// holds a First event. An empty name is ErrEmptyName, a name already
// subscribed is ErrNameTaken, and a closed hub is ErrClosed.
func (h *Hub) Subscribe(name string) (*Subscription, error) {
	if name == "" {
		return nil, ErrEmptyName
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	if _, taken := h.subs[name]; taken {
		return nil, fmt.Errorf("%w: %q", ErrNameTaken, name)
	}
	s := newSubscription(name, h.queueSize)
	h.subs[name] = s
	// Queued under the same lock as the registration: no Publish can come
	// between them, so whoever reads First knows it will get every later event.
	s.offer(firstEvent(name, len(h.subs)))
	h.notifyLocked()
	return s, nil
}

// Unsubscribe removes s from the hub, freeing its name. It is safe to call
// more than once, and after Close.
func (h *Hub) Unsubscribe(s *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	// Compare the subscription, not just the name: the name may belong to a
	// newer subscription by now.
	if _, ok := h.subs[s.name]; !ok {
		return
	}
	delete(h.subs, s.name)
	h.notifyLocked()
}

// Publish queues payload as a Message for every current subscriber, without
// waiting for any of them, and returns its sequence number and how many
// subscribers it was queued for. After Close it returns ErrClosed.
func (h *Hub) Publish(payload string) (seq uint64, subscribers int, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return 0, 0, ErrClosed
	}
	h.seq++
	ev := &pubsubpb.Event{Kind: &pubsubpb.Event_Message{Message: &pubsubpb.Message{Seq: h.seq, Payload: payload}}}
	for _, s := range h.subs {
		s.offer(ev)
	}
	return h.seq, len(h.subs), nil
}

// RunTimer sends every subscriber a Timer event for each value received from
// ticks. It returns when ticks is closed or the hub is closed. The caller
// owns the ticker, and stops it once it is done with it:
//
//	ticker := time.NewTicker(time.Second)
//	defer ticker.Stop()
//	go hub.RunTimer(ticker.C) // returns once the hub is closed
//
// Tests send the ticks themselves.
func (h *Hub) RunTimer(ticks <-chan time.Time) {
	for {
		select {
		case _, ok := <-ticks:
			if !ok {
				return
			}
			h.tick()
		case <-h.done:
			return
		}
	}
}

// tick queues one Timer event for every current subscriber.
func (h *Hub) tick() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.ticks++
	ev := &pubsubpb.Event{Kind: &pubsubpb.Event_Timer{Timer: &pubsubpb.Timer{Tick: h.ticks}}}
	for _, s := range h.subs {
		s.offer(ev)
	}
}

// Close shuts the hub: each subscription's queue gets a Goodbye event as its
// last and is closed, every subscriber is forgotten, RunTimer returns, and
// later calls get ErrClosed. Closing twice is harmless.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	close(h.done)
	for name, s := range h.subs {
		s.makeRoom() // first, so that Dropped counts a drop the Goodbye itself causes
		s.events <- &pubsubpb.Event{Kind: &pubsubpb.Event_Goodbye{Goodbye: &pubsubpb.Goodbye{
			Reason:  GoodbyeReason,
			Dropped: s.Dropped(),
		}}}
		close(s.events)
		delete(h.subs, name)
	}
	h.notifyLocked()
}
