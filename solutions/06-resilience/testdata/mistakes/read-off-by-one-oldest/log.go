// Mistake: Read rejects after = oldest-1, as if the subscriber had to have
// seen the oldest event kept.
//
// Why it is wrong: Right before the oldest event kept is the last position the
// log can still serve in full: a subscriber there loses nothing, and is told
// it lost something.
//
// Caught by: TestResilience_Log_Read_OnlyWhatTheLogStillHolds

package resilience

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/grpc-workbook/streaming/lessons/06-resilience/resiliencepb"
)

// ErrNotInLog is Read's answer for a position the log cannot resume from:
// the events just after it were dropped to keep the log bounded, or it is
// past the last event.
var ErrNotInLog = errors.New("position not in the replay log")

// Log is the feed's store: the newest events, numbered 1, 2, 3, ... in the
// order they were appended, and the request ids of the latest publishes. It
// plays the part of a disk: it outlives any one Server, so a restarted
// server resumes from it. It is safe for concurrent use.
type Log struct {
	mu     sync.Mutex
	size   int                   // the most events kept
	events []*resiliencepb.Event // the newest events, oldest first
	last   uint64                // the number of the last event appended; 0 before the first
	// changed is closed, and replaced, at every append: whoever holds the
	// channel Read returned learns that there are new events.
	changed chan struct{}

	remember int               // the most request ids kept
	ids      map[string]uint64 // request id → the number it was published as
	idOrder  []string          // the keys of ids, oldest first
}

// NewLog returns an empty log that keeps the newest size events and
// remembers the request ids of the latest remember publishes. Both must be
// at least 1.
func NewLog(size, remember int) *Log {
	return &Log{size: size, changed: make(chan struct{}), remember: remember, ids: map[string]uint64{}}
}

// Append adds payload as the next event and returns its number.
func (l *Log) Append(payload string) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.appendLocked(payload)
}

// appendLocked is Append with l.mu held: it numbers the event, drops the
// oldest event if there are more than size, and wakes every reader.
func (l *Log) appendLocked(payload string) uint64 {
	l.last++
	l.events = append(l.events, &resiliencepb.Event{Seq: l.last, Payload: payload})
	if len(l.events) > l.size {
		// The dropped event stays in the array behind the slice until
		// append next outgrows it and copies only the events kept: the
		// log holds at most about twice size events in memory.
		l.events = l.events[1:]
	}
	close(l.changed)
	l.changed = make(chan struct{})
	return l.last
}

// Read returns the events numbered above after, oldest first, and a channel
// that is closed at the next append. after may be anything from one below
// the oldest event kept to the last event (0 on a log that has dropped
// nothing); otherwise Read returns an error wrapping ErrNotInLog that says
// which events the log holds.
func (l *Log) Read(after uint64) ([]*resiliencepb.Event, <-chan struct{}, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	oldest := l.last - uint64(len(l.events)) + 1 // last+1 when the log is empty
	switch {
	case after > l.last:
		return nil, nil, fmt.Errorf("%w: asked for events after %d, but the last event is %d", ErrNotInLog, after, l.last)
	case after < oldest:
		return nil, nil, fmt.Errorf("%w: asked for events after %d, but the oldest event kept is %d", ErrNotInLog, after, oldest)
	}
	// A copy: the caller reads it without the lock, while appends go on.
	return slices.Clone(l.events[after+1-oldest:]), l.changed, nil
}

// Publish appends payload as the next event, unless requestID is one of
// the latest remember request ids published: then it appends nothing and
// returns the number requestID was published as, with duplicate true.
func (l *Log) Publish(requestID, payload string) (seq uint64, duplicate bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if seq, ok := l.ids[requestID]; ok {
		return seq, true
	}
	seq = l.appendLocked(payload)
	l.ids[requestID] = seq
	l.idOrder = append(l.idOrder, requestID)
	if len(l.idOrder) > l.remember {
		delete(l.ids, l.idOrder[0])
		l.idOrder = l.idOrder[1:]
	}
	return seq, false
}
