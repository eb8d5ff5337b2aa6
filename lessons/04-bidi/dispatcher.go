package bidi

import (
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

	tasks      <-chan *bidipb.Task // tasks as they arrive; closed when there will be no more
	departures chan<- Departure    // one report per Work call that registered
}

// NewDispatcher returns a Dispatcher that hands each task from tasks to one
// connected worker. Every Work call that registered sends one Departure on
// departures before it returns, so give it room or read it.
func NewDispatcher(tasks <-chan *bidipb.Task, departures chan<- Departure) *Dispatcher {
	return &Dispatcher{tasks: tasks, departures: departures}
}

// Work registers a worker, then pushes it tasks as they arrive while it takes
// the worker's acks from the same stream.
func (d *Dispatcher) Work(stream bidipb.Dispatcher_WorkServer) error {
	// TODO(lesson 04): Task 5. Recv the Register message (InvalidArgument if
	// it is missing or has no name). Start one goroutine that owns Recv from
	// then on and passes what it gets to this one. Here, select on d.tasks
	// (record the task as pending, then Send it) and on the worker's messages
	// (an Ack removes a pending task; io.EOF means the worker signed off).
	// Send one Departure on d.departures before returning.
	// TODO(lesson 04): Task 6. Return when the stream's context ends or
	// d.tasks is closed, and make sure the receiving goroutine can always
	// leave, even after Work has returned.
	return status.Error(codes.Unimplemented, "Work is not implemented yet (lesson 04, tasks 5 and 6)")
}
