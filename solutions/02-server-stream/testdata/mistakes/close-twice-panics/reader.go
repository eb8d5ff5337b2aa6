// Mistake: Close closes the done channel every time it is called.
//
// Why it is wrong: Closing a closed channel panics, and Close is documented as
// safe to call more than once. sync.Once runs the closing once and lets every
// call go on to wait.
//
// Caught by: TestServerStream_Reader_Close_EndsStreamAndGoroutine

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
	cancel context.CancelFunc
	after  func(time.Duration) <-chan time.Time

	results chan result[T] // the receiving goroutine hands each Recv result to Read
	done    chan struct{}  // closed by Close
	exited  chan struct{}  // closed when the receiving goroutine returns

	end error // io.EOF or the stream's status error, once Read has seen it
}

// result is what one Recv returned.
type result[T any] struct {
	msg *T
	err error
}

// NewReader starts receiving from stream on a goroutine of its own, which
// from now on is the only caller of stream.Recv.
//
// cancel must cancel the context the stream was opened with: Close calls it,
// because only that unblocks a Recv that is waiting. after starts a timer,
// with time.After's signature; pass time.After, or nil for time.After.
func NewReader[T any](stream Receiver[T], cancel context.CancelFunc, after func(time.Duration) <-chan time.Time) *Reader[T] {
	if after == nil {
		after = time.After
	}
	r := &Reader[T]{
		cancel:  cancel,
		after:   after,
		results: make(chan result[T]),
		done:    make(chan struct{}),
		exited:  make(chan struct{}),
	}
	go r.receive(stream)
	return r
}

// receive owns stream.Recv. It holds at most one result that no Read has
// taken yet, so a Read that timed out loses nothing: the next Read gets it.
func (r *Reader[T]) receive(stream Receiver[T]) {
	defer close(r.exited)
	for {
		msg, err := stream.Recv()
		select {
		case r.results <- result[T]{msg, err}:
		case <-r.done:
			return // nobody will read any more
		}
		if err != nil {
			return // the stream is over; Read remembers how it ended
		}
	}
}

// Read returns the next message. If none arrives within timeout it returns
// ErrReadTimeout, and the stream stays usable. At the end of the stream it
// returns io.EOF, or the stream's status error if it failed, and returns the
// same again on every later call. After Close it returns ErrReaderClosed.
func (r *Reader[T]) Read(timeout time.Duration) (*T, error) {
	select {
	case <-r.done:
		return nil, ErrReaderClosed
	default:
	}
	if r.end != nil {
		return nil, r.end
	}
	// If a result comes first, the timer is left to run out: since Go 1.23
	// an unstopped timer that nothing refers to is garbage, and needs no Stop.
	timer := r.after(timeout)
	select {
	case res := <-r.results:
		if res.err != nil {
			r.end = res.err
		}
		return res.msg, res.err
	case <-timer:
		return nil, ErrReadTimeout
	case <-r.done:
		return nil, ErrReaderClosed
	}
}

// Close gives up on the stream: it cancels the stream's context and returns
// once the receiving goroutine has ended, so nothing is left running.
func (r *Reader[T]) Close() {
	close(r.done)
	r.cancel()
	<-r.exited // the goroutine has returned: nothing is left running
}
