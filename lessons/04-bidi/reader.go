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
	// TODO(lesson 04): Task 4. The timer factory, a channel of received
	// messages, and the stream's final error.
}

// NewReader starts receiving from stream. ctx is the stream's context: when
// it ends, the receiving goroutine stops even if nobody reads any more. after
// is time.After in production; nil means time.After.
func NewReader[T any](ctx context.Context, stream Receiver[T], after func(time.Duration) <-chan time.Time) *Reader[T] {
	// TODO(lesson 04): Task 4. Build the Reader and start the goroutine that
	// owns Recv.
	return &Reader[T]{}
}

// Read returns the next message; or ErrTimeout if none came within timeout
// (the stream stays usable); or io.EOF once the stream ended with OK; or the
// status error it ended with. After the end it keeps returning that error.
func (r *Reader[T]) Read(timeout time.Duration) (*T, error) {
	// TODO(lesson 04): Task 4. Wait for a result or for r's timer, whichever
	// comes first.
	return nil, errors.New("Reader.Read is not implemented yet (lesson 04, task 4)")
}
