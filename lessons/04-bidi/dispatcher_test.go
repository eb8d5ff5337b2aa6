package bidi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/internal/harness"
	bidi "github.com/grpc-workbook/streaming/lessons/04-bidi"
	"github.com/grpc-workbook/streaming/lessons/04-bidi/bidipb"
)

// dispatch is your Dispatcher running in memory, with the test holding the
// other end of its task queue and of its departure reports.
type dispatch struct {
	client     bidipb.DispatcherClient
	srv        *harness.Server
	tasks      chan *bidipb.Task
	closeTasks func()
	departures chan bidi.Departure
}

func startDispatcher(t *testing.T) *dispatch {
	t.Helper()
	d := &dispatch{tasks: make(chan *bidipb.Task), departures: make(chan bidi.Departure, 16)}
	var once sync.Once
	d.closeTasks = func() { once.Do(func() { close(d.tasks) }) }
	d.srv = harness.Start(t, func(s *grpc.Server) {
		bidipb.RegisterDispatcherServer(s, bidi.NewDispatcher(d.tasks, d.departures))
	})
	t.Cleanup(d.closeTasks) // no handler may stay blocked on the queue
	d.client = bidipb.NewDispatcherClient(d.srv.Conn)
	return d
}

// departure waits for the one report a finished Work call sends.
func (d *dispatch) departure(t *testing.T, see string) bidi.Departure {
	t.Helper()
	select {
	case dep := <-d.departures:
		return dep
	case <-failSafe(t):
		t.Fatalf("Work never sent its Departure: send one on d.departures before returning; see README.md, %q", see)
		panic("unreachable")
	}
}

// worker is the test's side of one Work stream. Its own goroutine receives
// tasks; the test's goroutine (or one goroutine it starts) sends.
type worker struct {
	stream bidipb.Dispatcher_WorkClient
	got    chan *bidipb.Task
	done   chan struct{} // closed when Recv has returned an error
	err    error         // that error; read after done is closed
}

func openWorker(t *testing.T, ctx context.Context, d *dispatch, first *bidipb.WorkerMessage) *worker {
	t.Helper()
	stream, err := d.client.Work(ctx)
	require.NoError(t, err)
	w := &worker{stream: stream, got: make(chan *bidipb.Task, 1024), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			task, err := stream.Recv()
			if err != nil {
				w.err = err
				return
			}
			w.got <- task
		}
	}()
	if first != nil {
		w.send(t, first, "sending the worker's first message", task5)
	}
	return w
}

// send sends msg for the worker. If the handler has already ended the
// stream, Send returns io.EOF, which says nothing of why: the reason is the
// status the worker's Recv returned, so that is what a failure reports.
func (w *worker) send(t *testing.T, msg *bidipb.WorkerMessage, what, see string) {
	t.Helper()
	err := w.stream.Send(msg)
	if errors.Is(err, io.EOF) {
		harness.Wait(t, w.done, "the worker's Recv to return the stream's status")
		harness.RequireCode(t, w.err, codes.OK, what+" (Send returned io.EOF: the stream had already ended)", see)
	}
	require.NoError(t, err, "%s: see README.md, %q", what, see)
}

func register(name string) *bidipb.WorkerMessage {
	return &bidipb.WorkerMessage{Kind: &bidipb.WorkerMessage_Register{Register: &bidipb.Register{Worker: name}}}
}

func ackOf(id int64) *bidipb.WorkerMessage {
	return &bidipb.WorkerMessage{Kind: &bidipb.WorkerMessage_Ack{Ack: &bidipb.Ack{TaskId: id}}}
}

// push puts a task on the queue and returns once a Work handler has taken it.
func (w *worker) push(t *testing.T, d *dispatch, id int64, see string) {
	t.Helper()
	select {
	case d.tasks <- &bidipb.Task{Id: id, Payload: fmt.Sprintf("task %d", id)}:
	case <-w.done:
		t.Fatalf("the Work stream ended (%s) before the handler took task %d: see README.md, %q", describeErr(w.err), id, see)
	case <-failSafe(t):
		t.Fatalf("no Work handler took task %d from the queue: does it wait for an ack before pushing more? see README.md, %q", id, see)
	}
}

// next returns the next task pushed to the worker.
func (w *worker) next(t *testing.T, see string) *bidipb.Task {
	t.Helper()
	select {
	case task := <-w.got:
		return task
	case <-w.done:
		t.Fatalf("the Work stream ended (%s) while the worker waited for a task: see README.md, %q", describeErr(w.err), see)
	case <-failSafe(t):
		t.Fatalf("the handler took a task but never sent it to the worker: see README.md, %q", see)
	}
	panic("unreachable")
}

func (w *worker) ack(t *testing.T, id int64, see string) {
	t.Helper()
	w.send(t, ackOf(id), fmt.Sprintf("worker sending Ack{%d}", id), see)
}

// end waits for the worker's Recv to return its final error.
func (w *worker) end(t *testing.T, what string) error {
	t.Helper()
	harness.Wait(t, w.done, what)
	if got := len(w.got); got > 0 {
		t.Errorf("the worker received %d task(s) the test did not expect", got)
	}
	return w.err
}

func describeErr(err error) string {
	if errors.Is(err, io.EOF) {
		return "io.EOF"
	}
	s := status.Convert(err)
	return fmt.Sprintf("codes.%s %q", s.Code(), s.Message())
}

func TestBidi_Work_PushesWithoutWaitingForAcks(t *testing.T) {
	harness.See(t, task5)
	d := startDispatcher(t)
	w := openWorker(t, harness.Context(t), d, register("ada"))

	// Three pushes before any ack: pushing must not wait for acks.
	for id := int64(1); id <= 3; id++ {
		w.push(t, d, id, task5)
	}
	for id := int64(1); id <= 3; id++ {
		assert.Equal(t, id, w.next(t, task5).GetId(), "tasks should reach the worker in the order pushed")
	}
	w.ack(t, 2, task5)
	w.push(t, d, 4, task5)
	assert.Equal(t, int64(4), w.next(t, task5).GetId())
	for _, id := range []int64{1, 3, 4} {
		w.ack(t, id, task5)
	}
	require.NoError(t, w.stream.CloseSend())

	harness.RequireOK(t, errOrNil(w.end(t, "Work to end after the worker's CloseSend")), "Work, worker side, after CloseSend", task5)
	dep := d.departure(t, task5)
	assert.Equal(t, "ada", dep.Worker, "Departure.Worker; see README.md, %q", task5)
	assert.Empty(t, dep.Unacked, "Departure.Unacked after every task was acked; see README.md, %q", task5)
	assert.NoError(t, dep.Err, "Departure.Err after the worker signed off")
}

// TestBidi_Work_PushesAndAcksInFlightTogether pushes tasks from the test
// while the worker acks each one on another goroutine as it arrives: pushes
// travel one way and acks the other, on one stream, at the same time.
func TestBidi_Work_PushesAndAcksInFlightTogether(t *testing.T) {
	harness.See(t, task5)
	d := startDispatcher(t)
	w := openWorker(t, harness.Context(t), d, register("grace"))

	const n = 200
	acked := make(chan error, 1)
	go func() { // the worker's only sender from here on
		for range n {
			select {
			case task := <-w.got:
				if err := w.stream.Send(ackOf(task.GetId())); err != nil {
					acked <- err
					return
				}
			case <-w.done:
				acked <- w.err
				return
			}
		}
		acked <- nil
	}()
	for id := int64(1); id <= n; id++ {
		w.push(t, d, id, task5)
	}
	err := harness.Wait(t, acked, "the worker to receive and ack every task")
	require.NoError(t, err, "worker receiving and acking %d tasks: got %s; see README.md, %q", n, describeErr(err), task5)
	require.NoError(t, w.stream.CloseSend())

	harness.RequireOK(t, errOrNil(w.end(t, "Work to end after the worker's CloseSend")), "Work after 200 pushes and acks", task5)
	dep := d.departure(t, task5)
	assert.Empty(t, dep.Unacked, "Departure.Unacked: every task was acked before CloseSend; see README.md, %q", task5)
}

func TestBidi_Work_WorkerSignsOff_ServerKnowsUnacked(t *testing.T) {
	harness.See(t, task5)
	d := startDispatcher(t)
	w := openWorker(t, harness.Context(t), d, register("linus"))
	for id := int64(1); id <= 3; id++ {
		w.push(t, d, id, task5)
		w.next(t, task5)
	}
	w.ack(t, 1, task5)
	w.ack(t, 3, task5)
	require.NoError(t, w.stream.CloseSend())

	harness.RequireOK(t, errOrNil(w.end(t, "Work to end after the worker's CloseSend")),
		"Work, worker side, after acking 1 and 3 and CloseSend", task5)
	dep := d.departure(t, task5)
	assert.Equal(t, "linus", dep.Worker)
	assert.Equal(t, []int64{2}, dep.Unacked, "Departure.Unacked: task 2 was pushed and never acked; see README.md, %q", task5)
	assert.NoError(t, dep.Err, "Departure.Err: CloseSend is a clean sign-off")
	handler := d.srv.HandlerReturned(t, "Work")
	harness.AssertCode(t, handler.Err, codes.OK, "what Work returned after the worker's CloseSend", task5)
}

func TestBidi_Work_RegisterFirst_InvalidArgument(t *testing.T) {
	harness.See(t, task5)
	cases := []struct {
		name  string
		first *bidipb.WorkerMessage // nil: CloseSend without sending anything
	}{
		{"ack before register", ackOf(1)},
		{"register without a name", register("")},
		{"empty message", &bidipb.WorkerMessage{}},
		{"close before register", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := startDispatcher(t)
			w := openWorker(t, harness.Context(t), d, tc.first)
			if tc.first == nil {
				require.NoError(t, w.stream.CloseSend())
			}
			err := w.end(t, "Work to reject the stream")
			harness.RequireCode(t, err, codes.InvalidArgument, "Work whose first message is: "+tc.name, task5)
			assert.Contains(t, status.Convert(err).Message(), "Register", "the message should say a Register must come first")
		})
	}
}

func TestBidi_Work_AckForUnknownTask_InvalidArgument(t *testing.T) {
	harness.See(t, task5)
	cases := []struct {
		name string
		acks []int64
	}{
		{"ack twice", []int64{1, 1}},
		{"ack a task never pushed", []int64{99}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := startDispatcher(t)
			w := openWorker(t, harness.Context(t), d, register("ken"))
			w.push(t, d, 1, task5)
			w.next(t, task5)
			for _, id := range tc.acks {
				if w.stream.Send(ackOf(id)) != nil {
					break // the server already ended the call; Recv has the status
				}
			}
			bad := tc.acks[len(tc.acks)-1]
			err := w.end(t, "Work to reject the ack")
			harness.RequireCode(t, err, codes.InvalidArgument, fmt.Sprintf("Work after acks %v for pushed task 1", tc.acks), task5)
			assert.Contains(t, status.Convert(err).Message(), fmt.Sprint(bad), "the message should name the task id")

			dep := d.departure(t, task5)
			harness.AssertCode(t, dep.Err, codes.InvalidArgument, "Departure.Err", task5)
		})
	}
}

func TestBidi_Work_WorkerCancels_ServerStopsAndKnowsUnacked(t *testing.T) {
	harness.See(t, task6)
	d := startDispatcher(t)
	ctx, cancel := context.WithCancel(harness.Context(t))
	defer cancel()
	w := openWorker(t, ctx, d, register("barbara"))
	for id := int64(1); id <= 2; id++ {
		w.push(t, d, id, task6)
		w.next(t, task6)
	}
	cancel() // the worker goes away without a word

	harness.AssertCode(t, w.end(t, "the worker's Recv to return after cancel()"), codes.Canceled,
		"Work, worker side, after cancel()", task6)
	handler := d.srv.HandlerReturnedPromptly(t, "Work") // fails here if the handler's loop ignores the end of the stream
	harness.AssertCode(t, handler.Err, codes.Canceled, "what Work returned after the worker cancelled", task6)
	dep := d.departure(t, task6)
	assert.Equal(t, []int64{1, 2}, dep.Unacked, "Departure.Unacked: tasks 1 and 2 were pushed and never acked; see README.md, %q", task6)
	harness.AssertCode(t, dep.Err, codes.Canceled, "Departure.Err after the worker cancelled", task6)
}

// TestBidi_Work_DispatcherCloses_StreamEndsCleanly_NoLeak closes the task
// queue: Work returns nil, which ends the stream with OK, while its receiving
// goroutine is still blocked in Recv. That goroutine then gets
// codes.Canceled, and must leave instead of waiting for a handler that is
// gone: the leak check at the end finds it otherwise.
func TestBidi_Work_DispatcherCloses_StreamEndsCleanly_NoLeak(t *testing.T) {
	harness.See(t, task6)
	// Registered first, so it runs last: after the harness stopped the
	// server and closed the connection.
	t.Cleanup(func() {
		if err := goleak.Find(); err != nil {
			t.Errorf("a goroutine outlived the Work handler (is the receiving goroutine stuck sending to the handler's loop?): "+
				"see README.md, %q\n%v", task6, err)
		}
	})
	d := startDispatcher(t)
	w := openWorker(t, harness.Context(t), d, register("edsger"))
	w.push(t, d, 1, task6)
	w.next(t, task6)
	d.closeTasks()

	harness.RequireOK(t, errOrNil(w.end(t, "Work to end after the task queue closed")),
		"Work, worker side, after the dispatcher's queue closed", task6)
	handler := d.srv.HandlerReturned(t, "Work")
	harness.AssertCode(t, handler.Err, codes.OK, "what Work returned when the queue closed", task6)
	dep := d.departure(t, task6)
	assert.Equal(t, []int64{1}, dep.Unacked, "Departure.Unacked: task 1 was never acked; see README.md, %q", task6)

	// An ack after the handler returned: its Send may succeed or return
	// io.EOF, and nobody on the server will ever read it.
	_ = w.stream.Send(ackOf(1))
}
