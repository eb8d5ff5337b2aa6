package scaleout

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/lessons/08-scale-out/scaleoutpb"
)

// PullBatch bounds how many events a subscriber's consumer fetches ahead of
// what its gRPC stream has sent: the most a slow subscriber holds in this
// replica's memory.
const PullBatch = 64

// ConsumerInactiveThreshold is how long the broker keeps a subscriber's
// consumer that nobody reads from. A replica deletes its consumers itself when
// their streams end; this is the safety net for a replica that died without
// doing so.
const ConsumerInactiveThreshold = time.Minute

// Replica is one of several identical servers of the Hub service. It holds
// no events itself: they live in the broker, so any replica can serve any
// subscriber.
type Replica struct {
	scaleoutpb.UnimplementedHubServer

	name   string
	nc     *nats.Conn // this replica's own connection to the broker
	js     jetstream.JetStream
	closed chan struct{} // closed by NewReplica's ClosedHandler once nc is closed

	leaving context.Context    // ends when Close is called: every Subscribe says Goodbye
	leave   context.CancelFunc // Close
}

// NewReplica returns a replica named name that reaches the broker through
// nc, which it owns from now on: Shutdown drains and closes it.
func NewReplica(name string, nc *nats.Conn) (*Replica, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	r := &Replica{name: name, nc: nc, js: js, closed: make(chan struct{})}
	r.leaving, r.leave = context.WithCancel(context.Background())
	nc.SetClosedHandler(func(*nats.Conn) { close(r.closed) })
	return r, nil
}

// Name is the replica's name.
func (r *Replica) Name() string { return r.name }

// Close makes every Subscribe stream of this replica say Goodbye and end, and
// every later Subscribe fail with Unavailable. It is safe to call more than
// once.
func (r *Replica) Close() { r.leave() }

// Publish stores req's payload in the broker's stream, once per request id.
func (r *Replica) Publish(ctx context.Context, req *scaleoutpb.PublishRequest) (*scaleoutpb.PublishReply, error) {
	// TODO(lesson 08): Task 2. Refuse an empty request_id (InvalidArgument);
	// r.js.Publish the payload on Subject with the request id as the message
	// id (nats.ErrMaxPayload: InvalidArgument; any other error: Unavailable);
	// reply with the ack's sequence and duplicate flag, and r.name.
	return nil, status.Error(codes.Unimplemented, "Publish is not implemented yet (lesson 08, task 2)")
}

// Subscribe streams the events after req's after_seq from the broker to the
// client, through one consumer of its own that it deletes when the stream
// ends.
func (r *Replica) Subscribe(req *scaleoutpb.SubscribeRequest, stream grpc.ServerStreamingServer[scaleoutpb.Event]) error {
	// TODO(lesson 08): Task 3. Refuse to start once r.leaving has ended
	// (Unavailable). Create a consumer with r.startAt's configuration, delete
	// it when the handler returns, and Send each message from
	// cons.Messages() until the client leaves (status.FromContextError), a
	// Send fails (its error) or r.leaving ends (Goodbye, then nil).
	return status.Error(codes.Unimplemented, "Subscribe is not implemented yet (lesson 08, task 3)")
}

// startAt checks that the events after after can still be streamed, and
// returns the configuration of a consumer that starts just after it.
func (r *Replica) startAt(ctx context.Context, after uint64) (jetstream.ConsumerConfig, error) {
	cfg := jetstream.ConsumerConfig{
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: ConsumerInactiveThreshold,
		DeliverPolicy:     jetstream.DeliverAllPolicy,
	}
	// TODO(lesson 08): Task 4. Look at the stream's state: OutOfRange when
	// the events after after are no longer kept, or after is past the last
	// event; otherwise start the consumer at after+1.
	return cfg, nil
}

// Shutdown stops gs, the gRPC server that serves r, and then r's connection
// to the broker: every subscriber hears Goodbye, every handler returns and
// deletes its consumer, and only then does the connection drain and close.
func Shutdown(r *Replica, gs *grpc.Server) error {
	// TODO(lesson 08): Task 5. Close r, GracefulStop gs, then drain r.nc and
	// wait until it is closed (r.closed).
	return errors.New("Shutdown is not implemented yet (lesson 08, task 5)")
}
