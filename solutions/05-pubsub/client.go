package pubsub

import (
	"context"
	"errors"
	"fmt"
	"io"

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
	switch kind := ev.GetKind().(type) {
	case *pubsubpb.Event_First:
		if h.First != nil {
			h.First(kind.First)
		}
	case *pubsubpb.Event_Timer:
		if h.Timer != nil {
			h.Timer(kind.Timer)
		}
	case *pubsubpb.Event_Message:
		if h.Message != nil {
			h.Message(kind.Message)
		}
	case *pubsubpb.Event_Goodbye:
		if h.Goodbye != nil {
			h.Goodbye(kind.Goodbye)
		}
	case nil: // no kind set, or a kind added to the .proto after this code was built
		return ErrNoKind
	}
	return nil
}

// Listen subscribes to client as name and dispatches every event to h until
// the stream ends. A stream that ends with io.EOF (after Goodbye) is success:
// Listen returns nil. Otherwise it returns the stream's status error, or the
// Dispatch error of an event it could not handle, having ended the stream.
func Listen(ctx context.Context, client pubsubpb.HubClient, name string, h Handlers) error {
	// Leaving early (a bad event) must end the call, or the stream and its
	// server handler would live on: cancelling ctx is how a client does that.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	stream, err := client.Subscribe(ctx, &pubsubpb.SubscribeRequest{Name: name})
	if err != nil {
		return err
	}
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := Dispatch(ev, h); err != nil {
			return fmt.Errorf("subscriber %q: %w", name, err)
		}
	}
}
