// Mistake: All yields the error and goes on receiving.
//
// Why it is wrong: After an error, Recv returns the same error again: the loop
// yields it without end. A failed stream yields its error once, last.
//
// Caught by: TestServerStream_All_Failure_YieldsErrorLast

package serverstream

import (
	"context"
	"errors"
	"io"
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
	var msgs []*T
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return msgs, nil // io.EOF means the server returned nil: success
		}
		if err != nil {
			return msgs, err // a status error; keep what arrived before it
		}
		msgs = append(msgs, msg)
	}
}

// FollowN follows the live log until it has n lines, then stops following
// and returns them. If the live log ends first, it returns the lines it got
// and io.ErrUnexpectedEOF; if the stream fails (or ctx ends), the lines it got
// and the stream's status error. It leaves nothing running behind it.
func FollowN(ctx context.Context, client logpb.LogServiceClient, n int) ([]*logpb.LogLine, error) {
	// The call gets a context of its own, so that cancelling it ends this
	// stream and nothing else. The deferred cancel runs on every return: it
	// is what releases the stream when FollowN stops before the stream ends.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	stream, err := client.Follow(ctx, &logpb.FollowRequest{})
	if err != nil {
		return nil, err
	}
	var lines []*logpb.LogLine
	for len(lines) < n {
		line, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return lines, io.ErrUnexpectedEOF // ended with OK, but short
		}
		if err != nil {
			return lines, err
		}
		lines = append(lines, line)
	}
	return lines, nil
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
	return func(yield func(*T, error) bool) {
		for {
			msg, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				yield(nil, err)
				continue
			}
			if !yield(msg, nil) {
				return // the loop body broke out: stop receiving
			}
		}
	}
}
