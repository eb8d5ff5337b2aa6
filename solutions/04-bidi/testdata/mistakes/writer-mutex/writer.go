// Mistake: A Writer built on a mutex: Write locks it around Send, DoneWriting
// around CloseSend.
//
// Why it is wrong: The mutex keeps two Sends apart, but a Send blocked on flow
// control holds it for as long as it blocks: every other producer, and
// DoneWriting, waits behind it. DoneWriting must only signal, and the test
// calls it while a Send is blocked.
//
// Caught by: TestBidi_Writer_DoneWritingDuringSend_ClosesAfterIt

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

	mu   sync.Mutex // held during every Send and the CloseSend
	done bool       // DoneWriting was called
	err  error      // why writing stopped
}

// NewWriter starts the send loop for stream. The loop stops after
// DoneWriting (with one CloseSend), when a Send fails, or when ctx ends;
// pass the context the stream was opened with.
func NewWriter[T any](ctx context.Context, stream SendCloser[T]) *Writer[T] {
	return &Writer[T]{stream: stream, ctx: ctx} // no goroutine: a mutex keeps the callers apart
}

// Write hands msg to the send loop and returns once the loop has taken it.
// It returns ErrClosed after DoneWriting, and the loop's error if the loop
// has stopped. Do not change msg after Write: it may still be being sent.
func (w *Writer[T]) Write(msg *T) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.done:
		return ErrClosed
	case w.err != nil:
		return w.err
	case w.ctx.Err() != nil:
		w.err = w.ctx.Err()
		return w.err
	}
	w.err = w.stream.Send(msg)
	return w.err
}

// DoneWriting tells the loop that no more messages will come: it finishes the
// message it holds, calls CloseSend once, and stops. Calling it again does
// nothing.
func (w *Writer[T]) DoneWriting() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done && w.err == nil {
		w.done = true
		w.err = w.stream.CloseSend()
	}
}

// Wait waits for the send loop to stop, and returns nil if it stopped after
// DoneWriting, or else the Send error or the context's error that stopped it.
func (w *Writer[T]) Wait() error {
	w.mu.Lock()
	stopped := w.done || w.err != nil
	w.mu.Unlock()
	if !stopped {
		<-w.ctx.Done()
		return w.ctx.Err()
	}
	return w.err
}
