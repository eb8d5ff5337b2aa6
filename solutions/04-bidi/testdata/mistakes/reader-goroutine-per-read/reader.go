// Mistake: Read starts a goroutine that calls Recv, for each Read.
//
// Why it is wrong: A Read that times out leaves its goroutine in Recv. The next
// Read starts another: two receivers on one stream, which grpc-go forbids
// (ClientStream.RecvMsg docs). The reply the first one takes goes into a
// channel nobody reads, and is lost.
//
// Caught by: TestBidi_Reader_Timeout_StreamStaysUsable

package bidi

import (
	"context"
	"errors"
	"time"
)

// Receiver is the receiving half of a stream, client or server side.
type Receiver[T any] interface {
	Recv() (*T, error)
}

// ErrTimeout is what Read returns when no message arrived in time. The
// stream is still usable: call Read again.
var ErrTimeout = errors.New("bidi: no message within the timeout")

// Reader is Python's read(timeout) for a Go stream. One goroutine of its own
// owns Recv and hands each result over a channel, so Read can wait for a
// message and a timer at once without ever abandoning a Recv half done.
type Reader[T any] struct {
	after  func(time.Duration) <-chan time.Time
	stream Receiver[T]
	err    error // the stream's final error, once seen
}

type received[T any] struct {
	msg *T
	err error
}

// NewReader starts receiving from stream. ctx is the stream's context: when
// it ends, the receiving goroutine stops even if nobody reads any more. after
// is time.After in production; nil means time.After.
func NewReader[T any](ctx context.Context, stream Receiver[T], after func(time.Duration) <-chan time.Time) *Reader[T] {
	if after == nil {
		after = time.After
	}
	_ = ctx // each Read's goroutine ends with its Recv
	return &Reader[T]{after: after, stream: stream}
}

// Read returns the next message; or ErrTimeout if none came within timeout
// (the stream stays usable); or io.EOF once the stream ended with OK; or the
// status error it ended with. After the end it keeps returning that error.
func (r *Reader[T]) Read(timeout time.Duration) (*T, error) {
	// A timer that never fires needs no Stop: since Go 1.23 the garbage
	// collector frees it once nothing refers to it.
	if r.err != nil {
		return nil, r.err
	}
	got := make(chan received[T], 1)
	go func() { // a Recv for this Read only
		msg, err := r.stream.Recv()
		got <- received[T]{msg, err}
	}()
	select {
	case g := <-got:
		if g.err != nil {
			r.err = g.err
			return nil, g.err
		}
		return g.msg, nil
	case <-r.after(timeout):
		return nil, ErrTimeout
	}
}
