// Command 04-bidi serves lesson 04's Calculator and Dispatcher on a real
// port:
//
//	go run ./cmd/workbook play 4             # your code
//	go run ./cmd/workbook play 4 --solution  # the reference
//
// A new task arrives every three seconds and goes to one connected worker;
// play prints each worker's departure, with the tasks it never acked.
package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/internal/play"
	bidi "github.com/grpc-workbook/streaming/lessons/04-bidi"
	"github.com/grpc-workbook/streaming/lessons/04-bidi/bidipb"
)

func main() {
	play.Main(play.Lesson{
		ID:  "04-bidi",
		New: newServer,
		Samples: map[string][]string{
			"Calculate": {
				`{"id": 1, "op": "OP_ADD", "a": 2, "b": 3}`,
				`{"id": 2, "op": "OP_DIVIDE", "a": 7, "b": 0}`,
				`{"id": 3, "op": "OP_MULTIPLY", "a": 6, "b": 7}`,
			},
			"Work": {`{"register": {"worker": "ada"}}`, `{"ack": {"taskId": 1}}`},
		},
		About: []string{
			"Calculate answers each line as it arrives; Ctrl-D (CloseSend) ends the call with OK.",
			"Work: register first, then a task arrives every 3 s; ack each by its id. Leave with Ctrl-C or Ctrl-D",
			"and play prints the tasks you never acked.",
			"Ctrl-C ends the tasks (each Work stream ends with OK), then GracefulStop.",
		},
	})
}

// newServer builds both services, feeds the dispatcher a task every three
// seconds, and prints each worker's departure to log.
func newServer(log io.Writer) (*grpc.Server, func()) {
	life, endLife := context.WithCancel(context.Background())
	tasks := make(chan *bidipb.Task)
	departures := make(chan bidi.Departure)
	s := grpc.NewServer()
	bidipb.RegisterCalculatorServer(s, bidi.NewCalculator())
	bidipb.RegisterDispatcherServer(s, bidi.NewDispatcher(life, tasks, departures))

	stop := make(chan struct{})
	fed := make(chan struct{})
	go func() { // a task every 3 s; it waits for a worker to take it
		defer close(fed)
		ticker := time.NewTicker(3 * time.Second)
		defer ticker.Stop()
		for id := int64(1); ; id++ {
			select {
			case <-ticker.C:
			case <-stop:
				return
			}
			select {
			case tasks <- &bidipb.Task{Id: id, Payload: fmt.Sprintf("resize photo %d", id)}:
			case <-stop:
				return
			}
		}
	}()
	go func() {
		for {
			select {
			case d := <-departures:
				fmt.Fprintf(log, "Worker %q left, Work ended with %v; tasks never acked: %v\n",
					d.Worker, status.Code(d.Err), d.Unacked)
			case <-life.Done():
				return
			}
		}
	}()

	return s, func() {
		close(stop)
		<-fed
		close(tasks) // no more tasks, ever: every Work call ends with OK
		s.GracefulStop()
		endLife()
	}
}
