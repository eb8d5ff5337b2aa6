// Mistake: a new Recv goroutine per Read: the one that timed out takes the
// next line and hands it to nobody.
//
// Caught by: TestServerStream_Reader_Timeout_StreamStaysUsable

package serverstream

import (
	"context"
	"errors"
	"sync"
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
	once    sync.Once

	end error // io.EOF or the stream's status error, once Read has seen it

	stream Receiver[T]
}

// result is what one Recv returned.
type result[T any] struct {
	msg *T
	err error
}

// NewReader keeps the stream; each Read receives from it.
func NewReader[T any](stream Receiver[T], cancel context.CancelFunc, after func(time.Duration) <-chan time.Time) *Reader[T] {
	if after == nil {
		after = time.After
	}
	r := &Reader[T]{
		cancel: cancel,
		after:  after,
		done:   make(chan struct{}),
		exited: make(chan struct{}),
		stream: stream,
	}
	close(r.exited) // no long-lived goroutine to wait for
	return r
}

// Read starts a goroutine that calls Recv, and waits for it or the timeout.
func (r *Reader[T]) Read(timeout time.Duration) (*T, error) {
	select {
	case <-r.done:
		return nil, ErrReaderClosed
	default:
	}
	if r.end != nil {
		return nil, r.end
	}
	got := make(chan result[T], 1)
	go func() {
		msg, err := r.stream.Recv()
		got <- result[T]{msg, err}
	}()
	timer := r.after(timeout)
	select {
	case res := <-got:
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
	r.once.Do(func() {
		r.cancel()
		close(r.done)
	})
	<-r.exited
}
