package harness

import "testing"

// ObservedRecv wraps a stream's Recv so a test can wait until the code under
// test has received a message, without reaching into that code. Hand it to
// code that takes any value with a Recv method (a reader over a stream).
type ObservedRecv[T any] struct {
	stream   interface{ Recv() (*T, error) }
	received chan struct{}
}

// ObserveRecv wraps stream.
func ObserveRecv[T any](stream interface{ Recv() (*T, error) }) *ObservedRecv[T] {
	return &ObservedRecv[T]{stream: stream, received: make(chan struct{}, 1024)}
}

// Recv calls the stream's Recv and then notes that it returned.
func (o *ObservedRecv[T]) Recv() (*T, error) {
	msg, err := o.stream.Recv()
	select { // never block the code under test: a test that stops looking loses nothing it needs
	case o.received <- struct{}{}:
	default:
	}
	return msg, err
}

// WaitReceived waits until one more Recv call has returned, whoever made it.
func (o *ObservedRecv[T]) WaitReceived(t testing.TB, what string) {
	t.Helper()
	Wait(t, o.received, what)
}
