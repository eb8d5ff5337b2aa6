// Mistake: Read reports a timeout as the end of the stream (io.EOF).
//
// Why it is wrong: A timeout says only that nothing came in time; the stream
// goes on, and the reply that arrives later must still be read. io.EOF tells
// the caller the server finished with OK, so it stops reading.
//
// Caught by: TestBidi_Reader_Timeout_StreamStaysUsable

package bidi

import (
	"context"
	"errors"
	"io"
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
	results chan *T // closed after the last message
	err     error   // the stream's final error; read only after results is closed
}

// NewReader starts receiving from stream. ctx is the stream's context: when
// it ends, the receiving goroutine stops even if nobody reads any more. after
// is time.After in production; nil means time.After.
func NewReader[T any](ctx context.Context, stream Receiver[T], after func(time.Duration) <-chan time.Time) *Reader[T] {
	if after == nil {
		after = time.After
	}
	r := &Reader[T]{after: after, results: make(chan *T)}
	go r.receive(ctx, stream)
	return r
}

// receive is the only goroutine that calls Recv.
func (r *Reader[T]) receive(ctx context.Context, stream Receiver[T]) {
	defer close(r.results)
	for {
		msg, err := stream.Recv()
		if err != nil {
			r.err = err // io.EOF, or the status the stream ended with
			return
		}
		select {
		case r.results <- msg:
		case <-ctx.Done():
			// Nobody will read this message: the stream is over. Wait for
			// the Recv error that follows rather than inventing one.
		}
	}
}

// Read returns the next message; or ErrTimeout if none came within timeout
// (the stream stays usable); or io.EOF once the stream ended with OK; or the
// status error it ended with. After the end it keeps returning that error.
func (r *Reader[T]) Read(timeout time.Duration) (*T, error) {
	// A timer that never fires needs no Stop: since Go 1.23 the garbage
	// collector frees it once nothing refers to it.
	select {
	case msg, ok := <-r.results:
		if !ok {
			return nil, r.err
		}
		return msg, nil
	case <-r.after(timeout):
		return nil, io.EOF // nothing came: the stream has run dry
	}
}
