package bidi

import (
	"context"
	"errors"
	"sync"
)

// SendCloser is the sending half of a client stream: what a generated
// bidirectional client stream offers for writing.
type SendCloser[T any] interface {
	Send(*T) error
	CloseSend() error
}

// ErrClosed is what Write returns after DoneWriting.
var ErrClosed = errors.New("bidi: write after DoneWriting")

// Writer owns the sending side of a stream. gRPC allows one goroutine to
// send while another receives, but never two senders at once, and never
// CloseSend while a Send is running. Writer keeps those rules by doing every
// Send and the one CloseSend on a single goroutine of its own, fed by a
// channel, so any number of goroutines may call Write at the same time.
//
// It is Python's write() / done_writing() pair, made safe for goroutines. A
// single goroutine that produces every message needs none of this: it may
// call Send itself, as CalculateAll does. Writer is for many producers.
type Writer[T any] struct {
	stream SendCloser[T]
	ctx    context.Context

	in      chan *T       // messages handed to the send loop
	closing chan struct{} // closed by DoneWriting
	once    sync.Once     // closes closing once
	stopped chan struct{} // closed when the send loop has returned
	err     error         // why the loop stopped; read only after stopped is closed
}

// NewWriter starts the send loop for stream. The loop stops after
// DoneWriting (with one CloseSend), when a Send fails, or when ctx ends;
// pass the context the stream was opened with.
func NewWriter[T any](ctx context.Context, stream SendCloser[T]) *Writer[T] {
	w := &Writer[T]{
		stream:  stream,
		ctx:     ctx,
		in:      make(chan *T), // unbuffered: a nil from Write means the loop holds the message
		closing: make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go w.loop()
	return w
}

// loop is the only goroutine that calls Send and CloseSend.
func (w *Writer[T]) loop() {
	defer close(w.stopped)
	for {
		select {
		case msg := <-w.in:
			if err := w.stream.Send(msg); err != nil {
				// io.EOF says only that the call is over: the server ended
				// it, the connection broke, or ctx ended. Recv has the reason.
				w.err = err
				return
			}
		case <-w.closing:
			// Every message a Write accepted has been sent: each was taken
			// from w.in and sent before this select ran again.
			w.err = w.stream.CloseSend()
			return
		case <-w.ctx.Done():
			w.err = w.ctx.Err()
			return
		}
	}
}

// Write hands msg to the send loop and returns once the loop has taken it.
// It returns ErrClosed after DoneWriting, and the loop's error if the loop
// has stopped. Do not change msg after Write: it may still be being sent.
func (w *Writer[T]) Write(msg *T) error {
	// Once DoneWriting was called, the answer is ErrClosed, even when the
	// loop has stopped too and the select below could pick stopped.
	select {
	case <-w.closing:
		return ErrClosed
	default:
	}
	select {
	case w.in <- msg:
		return nil
	case <-w.closing:
		return ErrClosed
	case <-w.stopped:
		return w.err
	}
}

// DoneWriting tells the loop that no more messages will come: it finishes the
// message it holds, calls CloseSend once, and stops. Calling it again does
// nothing.
func (w *Writer[T]) DoneWriting() {
	w.once.Do(func() { close(w.closing) })
}

// Wait waits for the send loop to stop, and returns nil if it stopped after
// DoneWriting, or else the Send error or the context's error that stopped it.
func (w *Writer[T]) Wait() error {
	<-w.stopped
	return w.err
}
