package bidi

import (
	"context"

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

// Work registers a worker, then pushes it tasks as they arrive while it takes
// the worker's acks from the same stream.
func (d *Dispatcher) Work(stream bidipb.Dispatcher_WorkServer) error {
	// TODO(lesson 04): Task 5. Recv the Register message (InvalidArgument if
	// it is missing or has no name). Start one goroutine that owns Recv from
	// then on and passes what it gets to this one, and can always leave. Loop
	// here with select on d.tasks (record the task as pending, then Send it),
	// on the worker's messages (an Ack removes a pending task; io.EOF means
	// the worker signed off) and on the stream's context. Return when either
	// side ends, and call d.depart(name, pending, err) just before.
	return status.Error(codes.Unimplemented, "Work is not implemented yet (lesson 04, task 5)")
}

// depart reports a registered worker's Work call that has ended: its name,
// the tasks it never acknowledged (ascending), and what Work returns. It
// waits until the report is taken, or until the dispatcher's life ends: a
// blocking send alone would hold a finished call open forever once nobody
// reads departures.
func (d *Dispatcher) depart(name string, pending map[int64]bool, err error) {
	// TODO(lesson 04): Task 6. Send one Departure on d.departures: name, the
	// pending ids in ascending order, and err. Give up if d.life ends first.
}
