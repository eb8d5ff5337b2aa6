package bidi_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/grpc-workbook/streaming/internal/harness"
	bidi "github.com/grpc-workbook/streaming/lessons/04-bidi"
)

// departure waits for the one report a finished Work call sends.
func (d *dispatch) departure(t *testing.T) bidi.Departure {
	t.Helper()
	return harness.Wait(t, d.departures, "Work to send its Departure before returning")
}

func TestBidi_Work_WorkerSignsOff_DepartureListsUnackedInOrder(t *testing.T) {
	d := startDispatcher(t, 64)
	w := openWorker(t, harness.Context(t), d, register("linus"))
	const n = 40
	var unacked []int64
	for id := int64(1); id <= n; id++ {
		w.push(t, d, id)
		w.next(t)
	}
	for id := int64(1); id <= n; id++ {
		if id%3 == 0 {
			w.ack(t, id)
		} else {
			unacked = append(unacked, id)
		}
	}
	require.NoError(t, w.stream.CloseSend())
	harness.RequireOK(t, errOrNil(w.end(t, "Work to end after the worker's CloseSend")), "Work, worker side, after CloseSend")

	dep := d.departure(t)
	assert.Equal(t, "linus", dep.Worker, "Departure.Worker")
	assert.Equal(t, unacked, dep.Unacked, "Departure.Unacked: every task pushed and not acked, in ascending order")
	assert.NoError(t, dep.Err, "Departure.Err: CloseSend is a clean sign-off")
}

func TestBidi_Work_WorkerCancels_DepartureListsUnacked(t *testing.T) {
	d := startDispatcher(t, 64)
	ctx, cancel := context.WithCancel(harness.Context(t))
	defer cancel()
	w := openWorker(t, ctx, d, register("barbara"))
	for id := int64(1); id <= 2; id++ {
		w.push(t, d, id)
		w.next(t)
	}
	cancel() // the worker goes away without a word

	dep := d.departure(t)
	assert.Equal(t, "barbara", dep.Worker, "Departure.Worker")
	assert.Equal(t, []int64{1, 2}, dep.Unacked, "Departure.Unacked: tasks 1 and 2 were pushed and never acked")
	harness.AssertCode(t, sent(dep.Err), codes.Canceled, "Departure.Err after the worker cancelled")
}

func TestBidi_Work_QueueCloses_DepartureListsUnacked(t *testing.T) {
	d := startDispatcher(t, 64)
	w := openWorker(t, harness.Context(t), d, register("edsger"))
	w.push(t, d, 1)
	w.next(t)
	d.closeTasks()

	dep := d.departure(t)
	assert.Equal(t, []int64{1}, dep.Unacked, "Departure.Unacked: task 1 was never acked")
	assert.NoError(t, dep.Err, "Departure.Err: a closed queue is a clean end")
}

// TestBidi_Work_DepartureOnlyForRegisteredWorkers: a call rejected before
// Register reports nothing (there is no worker to name); one rejected later
// reports, with the error.
func TestBidi_Work_DepartureOnlyForRegisteredWorkers(t *testing.T) {
	d := startDispatcher(t, 64)

	stranger := openWorker(t, harness.Context(t), d, ackOf(1))
	harness.RequireCode(t, stranger.end(t, "Work to reject an ack before Register"), codes.InvalidArgument, "Work whose first message is an ack")
	d.srv.HandlerReturned(t, "Work")
	select {
	case dep := <-d.departures:
		t.Errorf("a call that never registered sent a Departure %+v: only registered workers depart", dep)
	default:
	}

	w := openWorker(t, harness.Context(t), d, register("ken"))
	w.push(t, d, 1)
	w.next(t)
	_ = w.stream.Send(ackOf(99)) // an io.EOF here means the handler already ended the call; Recv has the status
	harness.RequireCode(t, w.end(t, "Work to reject the ack for task 99"), codes.InvalidArgument, "Work after an ack for task 99")
	dep := d.departure(t)
	assert.Equal(t, "ken", dep.Worker, "Departure.Worker")
	assert.Equal(t, []int64{1}, dep.Unacked, "Departure.Unacked")
	harness.AssertCode(t, dep.Err, codes.InvalidArgument, "Departure.Err: what Work returned")
}

// TestBidi_Work_SendFails_DepartureCountsTheTask: when a Send fails, nobody
// knows whether the task arrived, so it counts as unacknowledged.
func TestBidi_Work_SendFails_DepartureCountsTheTask(t *testing.T) {
	departures, _ := workOnBrokenStream(t)
	dep := harness.Wait(t, departures, "Work to send its Departure before returning")
	assert.Equal(t, []int64{7}, dep.Unacked, "Departure.Unacked: task 7, whose Send failed")
	harness.AssertCode(t, dep.Err, codes.Unavailable, "Departure.Err: the Send's error")
}

// TestBidi_Work_Departure_WaitsForReaderOrDispatcherEnd has no room for
// departures. The first worker's report waits until the test reads it. The
// second one's nobody reads: ending the dispatcher's life must free Work.
func TestBidi_Work_Departure_WaitsForReaderOrDispatcherEnd(t *testing.T) {
	d := startDispatcher(t, 0)

	ada := openWorker(t, harness.Context(t), d, register("ada"))
	require.NoError(t, ada.stream.CloseSend())
	assert.Equal(t, "ada", d.departure(t).Worker, "the Departure read from an unbuffered channel")
	harness.RequireOK(t, errOrNil(ada.end(t, "Work to end once its Departure was read")), "Work, worker side, after CloseSend")

	bob := openWorker(t, harness.Context(t), d, register("bob"))
	require.NoError(t, bob.stream.CloseSend())
	d.end() // nobody will read departures any more
	harness.RequireOK(t, errOrNil(bob.end(t, "Work to end after the dispatcher's life ended, with its Departure unread")),
		"Work, worker side, after CloseSend, with nobody reading departures")
	assert.Len(t, d.departures, 0, "departures: nobody read bob's, and there was no room")
}
