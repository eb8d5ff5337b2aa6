// Mistake: Subscribe waits for messages with the stream's context only.
//
// Why it is wrong: Close never reaches a handler that is waiting for the next
// event: no Goodbye, and GracefulStop waits forever.
//
// Caught by: TestScaleOut_Subscribe_ReplicaCloses_GoodbyeWithLastSeq

package scaleout

import (
	"context"
	"errors"
	"fmt"
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
	if req.GetRequestId() == "" {
		return nil, status.Error(codes.InvalidArgument, "request_id must not be empty: without it a retry cannot be told from a new event")
	}
	ack, err := r.js.Publish(ctx, Subject, []byte(req.GetPayload()), jetstream.WithMsgID(req.GetRequestId()))
	if errors.Is(err, nats.ErrMaxPayload) { // no retry can help
		return nil, status.Errorf(codes.InvalidArgument, "replica %s: the payload (%d bytes) is over the broker's limit (%d bytes, headers included)",
			r.name, len(req.GetPayload()), r.nc.MaxPayload())
	}
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "replica %s: the broker did not store the event: %v", r.name, err)
	}
	return &scaleoutpb.PublishReply{Seq: ack.Sequence, Duplicate: ack.Duplicate, Replica: r.name}, nil
}

// Subscribe streams the events after req's after_seq from the broker to the
// client, through one consumer of its own that it deletes when the stream
// ends.
func (r *Replica) Subscribe(req *scaleoutpb.SubscribeRequest, stream grpc.ServerStreamingServer[scaleoutpb.Event]) error {
	ctx := stream.Context()
	if r.leaving.Err() != nil {
		return status.Errorf(codes.Unavailable, "replica %s is shutting down; subscribe to another", r.name)
	}
	after := req.GetAfterSeq()
	cfg, err := r.startAt(ctx, after)
	if err != nil {
		return err
	}
	cons, err := r.js.CreateConsumer(ctx, StreamName, cfg)
	if err != nil {
		return status.Errorf(codes.Unavailable, "replica %s: creating a consumer: %v", r.name, err)
	}
	defer func() {
		// The stream's context has ended by now, or soon will: delete with
		// a context of its own.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = r.js.DeleteConsumer(ctx, StreamName, cons.CachedInfo().Name)
	}()

	msgs, err := cons.Messages(jetstream.PullMaxMessages(PullBatch))
	if err != nil {
		return status.Errorf(codes.Unavailable, "replica %s: reading the stream: %v", r.name, err)
	}
	defer msgs.Stop()

	// Next waits for a message; it returns early when wait ends, which
	// happens when the client leaves or the replica shuts down.
	wait, stop := context.WithCancel(ctx)
	defer stop()

	last := after
	for {
		msg, err := msgs.Next(jetstream.NextContext(wait))
		if err != nil {
			if ctx.Err() != nil {
				return status.FromContextError(ctx.Err()).Err()
			}
			if r.leaving.Err() != nil {
				return stream.Send(&scaleoutpb.Event{Kind: &scaleoutpb.Event_Goodbye{
					Goodbye: &scaleoutpb.Goodbye{Replica: r.name, LastSeq: last},
				}})
			}
			return status.Errorf(codes.Unavailable, "replica %s: reading the stream after event %d: %v", r.name, last, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return status.Errorf(codes.Internal, "replica %s: %v", r.name, err)
		}
		seq := meta.Sequence.Stream
		if seq != last+1 {
			return status.Errorf(codes.OutOfRange, "replica %s: event %d is no longer kept (the next one kept is %d): this subscriber fell too far behind", r.name, last+1, seq)
		}
		ev := &scaleoutpb.Event{Kind: &scaleoutpb.Event_Message{
			Message: &scaleoutpb.Message{Seq: seq, Payload: string(msg.Data())},
		}}
		if err := stream.Send(ev); err != nil {
			return err
		}
		last = seq
	}
}

// startAt checks that the events after after can still be streamed, and
// returns the configuration of a consumer that starts just after it.
func (r *Replica) startAt(ctx context.Context, after uint64) (jetstream.ConsumerConfig, error) {
	cfg := jetstream.ConsumerConfig{
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: ConsumerInactiveThreshold,
		DeliverPolicy:     jetstream.DeliverAllPolicy,
	}
	s, err := r.js.Stream(ctx, StreamName)
	if err != nil {
		return cfg, status.Errorf(codes.Unavailable, "replica %s: %v", r.name, err)
	}
	state := s.CachedInfo().State
	// FirstSeq is LastSeq+1 on a stream that keeps nothing.
	if after+1 < state.FirstSeq || after > state.LastSeq {
		return cfg, status.Errorf(codes.OutOfRange,
			"replica %s: cannot stream the events after %d: the broker keeps events %d to %d",
			r.name, after, state.FirstSeq, state.LastSeq)
	}
	if after > 0 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = after + 1
	}
	return cfg, nil
}

// Shutdown stops gs, the gRPC server that serves r, and then r's connection
// to the broker: every subscriber hears Goodbye, every handler returns and
// deletes its consumer, and only then does the connection drain and close.
func Shutdown(r *Replica, gs *grpc.Server) error {
	r.Close()
	gs.GracefulStop()
	err := r.nc.Drain()
	<-r.closed // a Drain that failed has closed the connection, or it was closed already
	if err != nil {
		return fmt.Errorf("replica %s: draining its connection: %w", r.name, err)
	}
	return nil
}
