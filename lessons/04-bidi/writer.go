package bidi

import (
	"context"
	"errors"
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
	// TODO(lesson 04): Task 2. The stream, the context, an unbuffered channel
	// of messages, a channel DoneWriting closes (once), a channel closed when
	// the send loop stops, and the error it stopped with.
}

// NewWriter starts the send loop for stream. The loop stops after
// DoneWriting (with one CloseSend), when a Send fails, or when ctx ends;
// pass the context the stream was opened with.
func NewWriter[T any](ctx context.Context, stream SendCloser[T]) *Writer[T] {
	// TODO(lesson 04): Task 2. Build the Writer and start its send loop: the
	// only goroutine that calls Send and CloseSend.
	return &Writer[T]{}
}

// Write hands msg to the send loop and returns once the loop has taken it.
// It returns ErrClosed after DoneWriting, and the loop's error if the loop
// has stopped. Do not change msg after Write: it may still be being sent.
func (w *Writer[T]) Write(msg *T) error {
	// TODO(lesson 04): Task 2. Hand msg to the loop, unless DoneWriting was
	// called or the loop has stopped.
	return errors.New("Writer.Write is not implemented yet (lesson 04, task 2)")
}

// DoneWriting tells the loop that no more messages will come: it finishes the
// message it holds, calls CloseSend once, and stops. Calling it again does
// nothing.
func (w *Writer[T]) DoneWriting() {
	// TODO(lesson 04): Task 2. Signal the loop, safely more than once.
}

// Wait waits for the send loop to stop, and returns nil if it stopped after
// DoneWriting, or else the Send error or the context's error that stopped it.
func (w *Writer[T]) Wait() error {
	// TODO(lesson 04): Task 2. Wait for the loop to stop; return its error.
	return errors.New("Writer.Wait is not implemented yet (lesson 04, task 2)")
}
