package pubsub

import (
	"context"
	"errors"

	"github.com/grpc-workbook/streaming/lessons/05-pubsub/pubsubpb"
)

// ErrNoKind is Dispatch's answer to an event whose oneof is not set, which is
// also what an event of a kind added to the .proto after this code was built
// looks like.
var ErrNoKind = errors.New("event has no kind set")

// Handlers are the subscriber's reactions, one per kind of event. A nil
// handler means "not interested": that kind is skipped.
type Handlers struct {
	First   func(*pubsubpb.First)
	Timer   func(*pubsubpb.Timer)
	Message func(*pubsubpb.Message)
	Goodbye func(*pubsubpb.Goodbye)
}

// Dispatch calls the handler for ev's kind. For an event with no kind set
// it returns an error that errors.Is matches to ErrNoKind (ErrNoKind itself,
// or an error wrapping it).
func Dispatch(ev *pubsubpb.Event, h Handlers) error {
	// TODO(lesson 05): Task 9. Switch on the type of ev.GetKind() and call the
	// matching handler; an unset kind is an error.
	return errors.New("Dispatch is not implemented yet (lesson 05, task 9)")
}

// Listen subscribes to client as name and dispatches every event to h until
// the stream ends. A stream that ends with io.EOF (after Goodbye) is success:
// Listen returns nil. Otherwise it returns the stream's status error, or the
// Dispatch error of an event it could not handle, having ended the stream.
func Listen(ctx context.Context, client pubsubpb.HubClient, name string, h Handlers) error {
	// TODO(lesson 05): Task 10. Subscribe, then Recv and Dispatch until the
	// stream ends; io.EOF is success. Make sure an early return ends the call.
	return errors.New("Listen is not implemented yet (lesson 05, task 10)")
}
