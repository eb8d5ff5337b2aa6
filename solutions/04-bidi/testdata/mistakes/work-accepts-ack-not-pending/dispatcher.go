// Mistake: Work accepts an ack for a task that is not pending.
//
// Why it is wrong: An ack for a task acked already, or never pushed on this
// stream, means the worker is confused about what it holds; the service answers
// InvalidArgument (bidi.proto) instead of pretending all is well.
//
// Caught by: TestBidi_Work_AckForUnknownTask_InvalidArgument

package bidi

import (
	"context"
	"errors"
	"io"
	"maps"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/lessons/04-bidi/bidipb"
)

// Departure is the dispatcher's record of a Work call that has ended.
type Departure struct {
	Worker  string  // the registered name
	Unacked []int64 // tasks pushed to the worker and never acknowledged, ascending
	Err     error   // what Work returned: nil for a clean end
}

// Dispatcher pushes tasks to registered workers over their Work streams.
type Dispatcher struct {
	bidipb.UnimplementedDispatcherServer

	life       context.Context     // the dispatcher's lifetime: once it ends, nobody reads departures
	tasks      <-chan *bidipb.Task // tasks as they arrive; closed when there will be no more
	departures chan<- Departure    // one report per Work call that registered
}

// NewDispatcher returns a Dispatcher that hands each task from tasks to one
// connected worker. Every Work call that registered sends one Departure on
// departures before it returns, and waits until it is taken: read them, or
// end life, the dispatcher's lifetime, once nobody will.
func NewDispatcher(life context.Context, tasks <-chan *bidipb.Task, departures chan<- Departure) *Dispatcher {
	return &Dispatcher{life: life, tasks: tasks, departures: departures}
}

// fromWorker is one result of Recv, passed from the receiving goroutine to
// the handler's loop.
type fromWorker struct {
	msg *bidipb.WorkerMessage
	err error
}

// Work registers a worker, then pushes it tasks as they arrive while it takes
// the worker's acks from the same stream.
func (d *Dispatcher) Work(stream bidipb.Dispatcher_WorkServer) error {
	first, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		return status.Error(codes.InvalidArgument, "the stream closed before a Register message")
	}
	if err != nil {
		return err
	}
	name := first.GetRegister().GetWorker()
	if name == "" {
		return status.Error(codes.InvalidArgument, "the first message must be a Register with a worker name")
	}

	ctx := stream.Context()
	incoming := make(chan fromWorker)
	go receive(ctx, stream, incoming)
	pending, err := d.serve(ctx, stream, name, incoming)
	d.depart(name, pending, err)
	return err
}

// receive is the only goroutine that calls Recv after registration. It may
// outlive the handler: once Work has returned, its Recv fails with
// codes.Canceled, and the select on ctx.Done() lets it leave even though
// nobody reads incoming any more.
func receive(ctx context.Context, stream bidipb.Dispatcher_WorkServer, incoming chan<- fromWorker) {
	for {
		msg, err := stream.Recv()
		select {
		case incoming <- fromWorker{msg, err}:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// serve is the handler's loop: the only code that calls Send and the only
// code that touches pending, so neither needs a lock. It returns the tasks
// still waiting for an ack, and what Work returns.
func (d *Dispatcher) serve(ctx context.Context, stream bidipb.Dispatcher_WorkServer, name string,
	incoming <-chan fromWorker) (map[int64]bool, error) {
	pending := map[int64]bool{}
	for {
		select {
		case task, ok := <-d.tasks:
			if !ok {
				return pending, nil // no more tasks, ever: returning ends the stream with OK
			}
			// Record it before sending: if Send fails, nobody knows whether
			// the task arrived, so it must count as unacknowledged.
			pending[task.GetId()] = true
			if err := stream.Send(task); err != nil {
				return pending, err
			}
		case in := <-incoming: // never closed: receive returns instead
			if errors.Is(in.err, io.EOF) {
				return pending, nil // the worker signed off with CloseSend
			}
			if in.err != nil {
				return pending, in.err // the worker went away; the error carries Canceled
			}
			ack := in.msg.GetAck()
			if ack == nil {
				return pending, status.Errorf(codes.InvalidArgument, "worker %q: after Register, send only Acks", name)
			}
			delete(pending, ack.GetTaskId())
		case <-ctx.Done():
			return pending, status.FromContextError(ctx.Err()).Err()
		}
	}
}

// depart reports a registered worker's Work call that has ended: its name,
// the tasks it never acknowledged (ascending), and what Work returns. It
// waits until the report is taken, or until the dispatcher's life ends: a
// blocking send alone would hold a finished call open forever once nobody
// reads departures.
func (d *Dispatcher) depart(name string, pending map[int64]bool, err error) {
	dep := Departure{Worker: name, Unacked: slices.Sorted(maps.Keys(pending)), Err: err}
	select {
	case d.departures <- dep:
	case <-d.life.Done():
	}
}
