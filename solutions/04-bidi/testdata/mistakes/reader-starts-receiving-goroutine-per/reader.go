// Mistake: a Reader that starts a receiving goroutine per Read: the timed-out
// Read's goroutine swallows a later message.
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
	after   func(time.Duration) <-chan time.Time
	results chan received[T]
	err     error
	next    func() <-chan received[T] // starts one receiving goroutine per Read
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
	_ = ctx
	r := &Reader[T]{after: after}
	r.next = func() <-chan received[T] {
		ch := make(chan received[T], 1)
		go func() {
			msg, err := stream.Recv()
			ch <- received[T]{msg: msg, err: err}
		}()
		return ch
	}
	return r
}

func (r *Reader[T]) receive(ctx context.Context, stream Receiver[T]) {}

func (r *Reader[T]) Read(timeout time.Duration) (*T, error) {
	select {
	case got := <-r.next():
		return got.msg, got.err
	case <-r.after(timeout):
		return nil, ErrTimeout
	}
}
