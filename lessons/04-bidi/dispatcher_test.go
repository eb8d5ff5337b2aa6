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
	end        context.CancelFunc // ends the dispatcher's life
}

// startDispatcher starts your Dispatcher with room for that many departure
// reports nobody has read yet.
func startDispatcher(t *testing.T, room int) *dispatch {
	t.Helper()
	life, end := context.WithCancel(t.Context())
	d := &dispatch{tasks: make(chan *bidipb.Task), departures: make(chan bidi.Departure, room), end: end}
	d.closeTasks = sync.OnceFunc(func() { close(d.tasks) })
	d.srv = harness.Start(t, func(s *grpc.Server) {
		bidipb.RegisterDispatcherServer(s, deepDispatcher{bidi.NewDispatcher(life, d.tasks, d.departures)})
	})
	t.Cleanup(d.closeTasks) // no handler may stay blocked on the queue
	t.Cleanup(end)
	d.client = bidipb.NewDispatcherClient(d.srv.Conn)
	return d
}

// deepDispatcher calls your Work at a new stack depth each time, so that a
// data race in it is reported on every run of a test (see atNewDepth).
type deepDispatcher struct{ *bidi.Dispatcher }

func (d deepDispatcher) Work(stream bidipb.Dispatcher_WorkServer) error {
	var err error
	atNewDepth(func() { err = d.Dispatcher.Work(stream) })
	return err
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
		w.send(t, first, "sending the worker's first message")
	}
	return w
}

// send sends msg for the worker. If the handler has already ended the
// stream, Send returns io.EOF, which says nothing of why: the reason is the
// status the worker's Recv returned, so that is what a failure reports.
func (w *worker) send(t *testing.T, msg *bidipb.WorkerMessage, what string) {
	t.Helper()
	err := w.stream.Send(msg)
	if errors.Is(err, io.EOF) {
		harness.Wait(t, w.done, "the worker's Recv to return the stream's status")
		harness.RequireOK(t, w.err, what+" (Send returned io.EOF: the stream had already ended)")
	}
	require.NoError(t, err, what)
}

func register(name string) *bidipb.WorkerMessage {
	return &bidipb.WorkerMessage{Kind: &bidipb.WorkerMessage_Register{Register: &bidipb.Register{Worker: name}}}
}

func ackOf(id int64) *bidipb.WorkerMessage {
	return &bidipb.WorkerMessage{Kind: &bidipb.WorkerMessage_Ack{Ack: &bidipb.Ack{TaskId: id}}}
}

// push puts a task on the queue and returns once a Work handler has taken it.
func (w *worker) push(t *testing.T, d *dispatch, id int64) {
	t.Helper()
	select {
	case d.tasks <- &bidipb.Task{Id: id, Payload: fmt.Sprintf("task %d", id)}:
	case <-w.done:
		t.Fatalf("the Work stream ended (%s) before the handler took task %d from the queue", harness.Describe(w.err), id)
	case <-harness.Timeout():
		harness.Blocked(t, fmt.Sprintf("a Work handler to take task %d from the queue (does it wait for an ack before taking more?)", id))
	}
}

// next returns the next task pushed to the worker.
func (w *worker) next(t *testing.T) *bidipb.Task {
	t.Helper()
	select {
	case task := <-w.got:
		return task
	case <-w.done:
		t.Fatalf("the Work stream ended (%s) while the worker waited for a task", harness.Describe(w.err))
	case <-harness.Timeout():
		harness.Blocked(t, "the worker to receive the task the handler took from the queue")
	}
	panic("unreachable")
}

func (w *worker) ack(t *testing.T, id int64) {
	t.Helper()
	w.send(t, ackOf(id), fmt.Sprintf("worker sending Ack{%d}", id))
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

func TestBidi_Work_PushesWithoutWaitingForAcks(t *testing.T) {
	d := startDispatcher(t, 64)
	w := openWorker(t, harness.Context(t), d, register("ada"))

	// Three pushes before any ack: pushing must not wait for acks.
	for id := int64(1); id <= 3; id++ {
		w.push(t, d, id)
	}
	for id := int64(1); id <= 3; id++ {
		assert.Equal(t, id, w.next(t).GetId(), "the task the worker received: tasks arrive in the order pushed")
	}
	w.ack(t, 2)
	w.push(t, d, 4)
	assert.Equal(t, int64(4), w.next(t).GetId(), "the task the worker received after acking 2")
	for _, id := range []int64{1, 3, 4} {
		w.ack(t, id)
	}
	require.NoError(t, w.stream.CloseSend())
	harness.RequireOK(t, errOrNil(w.end(t, "Work to end after the worker's CloseSend")), "Work, worker side, after CloseSend")
}

// TestBidi_Work_PushesAndAcksInFlightTogether acks each task as it arrives
// and pushes the next one at once: the ack travels to the handler while the
// next task travels to the worker, on one stream, at the same time.
func TestBidi_Work_PushesAndAcksInFlightTogether(t *testing.T) {
	d := startDispatcher(t, 64)
	w := openWorker(t, harness.Context(t), d, register("grace"))

	const n = 200
	for id := int64(1); id <= n; id++ {
		w.push(t, d, id)
		task := w.next(t)
		w.send(t, ackOf(task.GetId()), "acking the task just received")
	}
	require.NoError(t, w.stream.CloseSend())

	harness.RequireOK(t, errOrNil(w.end(t, "Work to end after the worker's CloseSend")), "Work after 200 pushes and acks")
	handler := d.srv.HandlerReturned(t, "Work")
	harness.AssertCode(t, handler.Err, codes.OK, "what Work returned after 200 pushes, 200 acks and CloseSend")
}

func TestBidi_Work_WorkerSignsOff_EndsWithOK(t *testing.T) {
	d := startDispatcher(t, 64)
	w := openWorker(t, harness.Context(t), d, register("linus"))
	for id := int64(1); id <= 3; id++ {
		w.push(t, d, id)
		w.next(t)
	}
	w.ack(t, 1)
	w.ack(t, 3)
	require.NoError(t, w.stream.CloseSend())

	harness.RequireOK(t, errOrNil(w.end(t, "Work to end after the worker's CloseSend")),
		"Work, worker side, after acking 1 and 3 and CloseSend (task 2 unacked is no error)")
	handler := d.srv.HandlerReturned(t, "Work")
	harness.AssertCode(t, handler.Err, codes.OK, "what Work returned after the worker's CloseSend")
}

func TestBidi_Work_RegisterFirst_InvalidArgument(t *testing.T) {
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
			d := startDispatcher(t, 64)
			w := openWorker(t, harness.Context(t), d, tc.first)
			if tc.first == nil {
				require.NoError(t, w.stream.CloseSend())
			}
			err := w.end(t, "Work to reject the stream")
			harness.RequireCode(t, err, codes.InvalidArgument, "Work whose first message is: "+tc.name)
			assert.Contains(t, status.Convert(err).Message(), "Register", "the message should say a Register must come first")
		})
	}
}

func TestBidi_Work_AfterRegisterOnlyAcks_InvalidArgument(t *testing.T) {
	cases := []struct {
		name   string
		second *bidipb.WorkerMessage
	}{
		{"a second Register", register("ada again")},
		{"an empty message", &bidipb.WorkerMessage{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := startDispatcher(t, 64)
			w := openWorker(t, harness.Context(t), d, register("ada"))
			w.push(t, d, 1)
			w.next(t)
			_ = w.stream.Send(tc.second) // an io.EOF here means the handler already ended the call; Recv has the status
			err := w.end(t, "Work to reject the message")
			harness.RequireCode(t, err, codes.InvalidArgument, "Work after Register, then "+tc.name)
			assert.Contains(t, status.Convert(err).Message(), "Ack", "the message should say that only Acks may follow")
		})
	}
}

func TestBidi_Work_AckForUnknownTask_InvalidArgument(t *testing.T) {
	cases := []struct {
		name string
		acks []int64
	}{
		{"ack twice", []int64{1, 1}},
		{"ack a task never pushed", []int64{99}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := startDispatcher(t, 64)
			w := openWorker(t, harness.Context(t), d, register("ken"))
			w.push(t, d, 1)
			w.next(t)
			for _, id := range tc.acks {
				if w.stream.Send(ackOf(id)) != nil {
					break // the server already ended the call; Recv has the status
				}
			}
			bad := tc.acks[len(tc.acks)-1]
			err := w.end(t, "Work to reject the ack")
			harness.RequireCode(t, err, codes.InvalidArgument, fmt.Sprintf("Work after acks %v for pushed task 1", tc.acks))
			assert.Contains(t, status.Convert(err).Message(), fmt.Sprint(bad), "the message should name the task id")
		})
	}
}

// TestBidi_Work_WorkerCancels_HandlerReturnsCanceled has workers go away
// without a word, one after another. The receiving goroutine may or may not
// get to pass on its Canceled error before it sees ctx.Done(): the handler's
// own select on the stream's context is what makes it return every time.
func TestBidi_Work_WorkerCancels_HandlerReturnsCanceled(t *testing.T) {
	d := startDispatcher(t, 64)
	const rounds = 24
	for round := range rounds {
		ctx, cancel := context.WithCancel(harness.Context(t))
		w := openWorker(t, ctx, d, register(fmt.Sprintf("barbara %d", round)))
		w.push(t, d, int64(round+1))
		w.next(t)
		cancel()

		harness.RequireCode(t, w.end(t, "the worker's Recv to return after cancel()"), codes.Canceled, "Work, worker side, after cancel()")
		handler := d.srv.HandlerReturned(t, "Work") // fails here if the handler's loop misses the end of the stream
		harness.RequireCode(t, sent(handler.Err), codes.Canceled, fmt.Sprintf("what Work returned after worker %d of %d cancelled", round+1, rounds))
	}
}

// TestBidi_Work_QueueCloses_EndsWithOK_NoLeak closes the task queue: Work
// returns nil, which ends the stream with OK, while its receiving goroutine
// is still blocked in Recv. That goroutine then gets codes.Canceled, and must
// leave instead of waiting for a handler that is gone.
func TestBidi_Work_QueueCloses_EndsWithOK_NoLeak(t *testing.T) {
	before := lessonGoroutines()
	d := startDispatcher(t, 64)
	w := openWorker(t, harness.Context(t), d, register("edsger"))
	w.push(t, d, 1)
	w.next(t)
	d.closeTasks()

	harness.RequireOK(t, errOrNil(w.end(t, "Work to end after the task queue closed")),
		"Work, worker side, after the dispatcher's queue closed")
	handler := d.srv.HandlerReturned(t, "Work")
	harness.AssertCode(t, handler.Err, codes.OK, "what Work returned when the queue closed")
	requireNoGoroutineLeft(t, before, "Work has returned (is the receiving goroutine stuck handing over its last Recv?), and")
}

// brokenWorkStream is a Work stream whose Send fails, as a real one does
// once the worker is gone. Its first Recv returns a Register; later ones
// wait for its context to end.
type brokenWorkStream struct {
	grpc.ServerStream // nil: only the methods below are used
	ctx               context.Context
	sendErr           error
	registered        bool
}

func (s *brokenWorkStream) Context() context.Context { return s.ctx }

func (s *brokenWorkStream) Recv() (*bidipb.WorkerMessage, error) {
	if !s.registered {
		s.registered = true
		return register("ada"), nil
	}
	<-s.ctx.Done()
	return nil, status.FromContextError(s.ctx.Err()).Err()
}

func (s *brokenWorkStream) Send(*bidipb.Task) error { return s.sendErr }

// workOnBrokenStream calls Work directly on a brokenWorkStream, with task 7
// waiting in the queue, and returns the departures and what Work returned.
func workOnBrokenStream(t *testing.T) (<-chan bidi.Departure, error) {
	t.Helper()
	tasks := make(chan *bidipb.Task, 1)
	tasks <- &bidipb.Task{Id: 7, Payload: "task 7"}
	departures := make(chan bidi.Departure, 1)
	d := bidi.NewDispatcher(t.Context(), tasks, departures)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel() // as gRPC does once the handler returns
	stream := &brokenWorkStream{ctx: ctx, sendErr: status.Error(codes.Unavailable, "the worker's connection is gone")}
	var err error
	harness.Call(t, "d.Work(stream)", func() { err = d.Work(stream) })
	return departures, err
}

// TestBidi_Work_SendFails_ReturnsItsError calls Work directly with a stream
// whose Send fails: the call is over, and Work returns that error.
func TestBidi_Work_SendFails_ReturnsItsError(t *testing.T) {
	_, err := workOnBrokenStream(t)
	harness.RequireCode(t, err, codes.Unavailable, "Work on a stream whose Send of task 7 fails")
}
