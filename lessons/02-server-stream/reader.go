package serverstream

import (
	"context"
	"errors"
	"time"
)

// ErrReadTimeout is what Read returns when no message arrived within its
// timeout. The stream is still open: call Read again to keep waiting.
var ErrReadTimeout = errors.New("serverstream: no message within the read timeout")

// ErrReaderClosed is what Read returns after Close.
var ErrReaderClosed = errors.New("serverstream: the reader is closed")

// Reader reads a stream one message at a time, with a timeout for each read,
// like Dubbo's read(timeout). A gRPC deadline covers a whole call; Reader
// bounds the wait for one message and leaves the stream open.
//
// Read is for one goroutine at a time, as Recv is. Close may be called from
// any goroutine, any number of times.
type Reader[T any] struct {
	// TODO(lesson 02): Task 7. The fields your Reader needs: for example
	// a channel of Recv results, a channel Close closes, and a channel closed
	// when the receiving goroutine returns.
}

// NewReader starts receiving from stream on a goroutine of its own, which
// from now on is the only caller of stream.Recv.
//
// cancel must cancel the context the stream was opened with: Close calls it,
// because only that unblocks a Recv that is waiting. after starts a timer,
// with time.After's signature; pass time.After, or nil for time.After.
func NewReader[T any](stream Receiver[T], cancel context.CancelFunc, after func(time.Duration) <-chan time.Time) *Reader[T] {
	// TODO(lesson 02): Task 7. Build the Reader and start the one goroutine
	// that calls stream.Recv and hands each result over a channel.
	return &Reader[T]{}
}

// Read returns the next message. If none arrives within timeout it returns
// ErrReadTimeout, and the stream stays usable. At the end of the stream it
// returns io.EOF, or the stream's status error if it failed, and returns the
// same again on every later call. After Close it returns ErrReaderClosed.
func (r *Reader[T]) Read(timeout time.Duration) (*T, error) {
	// TODO(lesson 02): Task 7. Wait for the next result or for the timer
	// from after(timeout), whichever comes first.
	return nil, errors.New("Reader.Read is not implemented yet (lesson 02, task 7)")
}

// Close gives up on the stream: it cancels the stream's context and returns
// once the receiving goroutine has ended, so nothing is left running.
func (r *Reader[T]) Close() {
	// TODO(lesson 02): Task 7. Tell the goroutine (and a waiting Read) to
	// stop, cancel the stream, and wait until the goroutine has returned.
}
