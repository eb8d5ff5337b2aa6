package serverstream

import (
	"context"
	"errors"
	"iter"

	"github.com/grpc-workbook/streaming/lessons/02-server-stream/logpb"
)

// Receiver is the receiving half of any stream of *T: a server-streaming
// client (grpc.ServerStreamingClient[T]), the client of a bidi stream, or a
// test's fake. (Given: nothing to write here.)
type Receiver[T any] interface {
	Recv() (*T, error)
}

// ReadAll receives every message of stream until it ends. A stream that ends
// with OK returns all its messages and a nil error. A stream that fails
// returns the messages that arrived before the failure, and the failure's
// status error.
func ReadAll[T any](stream Receiver[T]) ([]*T, error) {
	// TODO(lesson 02): Task 2. Call stream.Recv in a loop. io.EOF means the
	// stream ended with OK; any other error is the stream's status.
	return nil, errors.New("ReadAll is not implemented yet (lesson 02, task 2)")
}

// FollowN follows the live log until it has n lines, then stops following
// and returns them. If the live log ends first, it returns the lines it got
// and io.ErrUnexpectedEOF; if the stream fails (or ctx ends), the lines it got
// and the stream's status error. It leaves nothing running behind it.
func FollowN(ctx context.Context, client logpb.LogServiceClient, n int) ([]*logpb.LogLine, error) {
	// TODO(lesson 02): Task 5. Open Follow with a context you cancel on
	// return, and receive until you have n lines or the stream ends.
	return nil, errors.New("FollowN is not implemented yet (lesson 02, task 5)")
}

// All returns an iterator over stream's messages, for use with range:
//
//	for msg, err := range serverstream.All(stream) {
//		if err != nil { ... } // the stream failed; the loop ends after this
//		...
//	}
//
// Each message comes with a nil error. A stream that ends with OK just ends
// the loop; a failed stream yields (nil, its error) once, last.
func All[T any](stream Receiver[T]) iter.Seq2[*T, error] {
	// TODO(lesson 02): Task 6. Return a func(yield func(*T, error) bool) that
	// receives and yields until io.EOF, an error, or yield returns false.
	return func(yield func(*T, error) bool) {
		yield(nil, errors.New("All is not implemented yet (lesson 02, task 6)"))
	}
}
