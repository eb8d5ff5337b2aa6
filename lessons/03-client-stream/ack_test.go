package clientstream_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/grpc-workbook/streaming/internal/harness"
	clientstream "github.com/grpc-workbook/streaming/lessons/03-client-stream"
	"github.com/grpc-workbook/streaming/lessons/03-client-stream/sensorpb"
)

// TestClientStream_Ack_RecordsEachTaskOnce acks t-1 twice (a station unsure
// an ack arrived sends it again): the hub records each task once, in the
// order its first ack arrived, and answers with an empty message.
func TestClientStream_Ack_RecordsEachTaskOnce(t *testing.T) {
	h := startHub(t)

	stream, err := h.client.Ack(harness.Context(t))
	harness.RequireOK(t, err, "starting an Ack call")
	sendAcks(stream, "t-1", "t-2", "t-1", "t-3")
	reply, err := closeAndRecv(t, stream, "Ack of t-1, t-2, t-1, t-3")
	requireReplied(t, err, "Ack of t-1, t-2, t-1, t-3")
	assert.True(t, proto.Equal(&emptypb.Empty{}, reply), "Ack's reply: want an empty message, got %v", reply)

	assert.Equal(t, []string{"t-1", "t-2", "t-3"}, h.acked(t), "the tasks recorded after Ack of t-1, t-2, t-1, t-3")
	handler := h.srv.HandlerReturned(t, "Ack")
	harness.AssertCode(t, handler.Err, codes.OK, "what the Ack handler returned")
}

// TestClientStream_Ack_EmptyTaskID_InvalidArgument sends an ack that names
// no task: the call ends with InvalidArgument naming task_id, and the acks
// before it stay recorded.
func TestClientStream_Ack_EmptyTaskID_InvalidArgument(t *testing.T) {
	h := startHub(t)

	stream, err := h.client.Ack(harness.Context(t))
	harness.RequireOK(t, err, "starting an Ack call")
	sendAcks(stream, "t-1", "")
	_, err = closeAndRecv(t, stream, `Ack of "t-1", then ""`)
	harness.RequireCode(t, err, codes.InvalidArgument, `Ack of "t-1", then ""`)
	assert.Contains(t, status.Convert(err).Message(), "task_id", "the status message should name the empty field")
	assert.Equal(t, []string{"t-1"}, h.acked(t), "the tasks recorded after the Ack call was rejected")
}

// TestClientStream_Ack_CallBreaks_KeepsWhatArrived breaks an Ack call
// halfway, twice: the station hangs up, and the station's deadline passes (a
// fake stream whose Recv fails with DeadlineExceeded). The acks the hub had
// received before stay recorded, none twice, and the handler returns the
// error Recv gave it, as it is.
func TestClientStream_Ack_CallBreaks_KeepsWhatArrived(t *testing.T) {
	harness.See(t)
	t.Run("the station cancels", ackStationCancels)
	t.Run("the station's deadline passes", func(t *testing.T) {
		hub := clientstream.NewServer()
		stream := breakAfter[sensorpb.Acknowledgement, emptypb.Empty](
			status.Error(codes.DeadlineExceeded, "context deadline exceeded"),
			&sensorpb.Acknowledgement{TaskId: "t-1"}, &sensorpb.Acknowledgement{TaskId: "t-2"}, &sensorpb.Acknowledgement{TaskId: "t-1"})
		var err error
		harness.Call(t, "Ack(stream) whose Recv fails with DeadlineExceeded after t-1, t-2, t-1", func() { err = hub.Ack(stream) })
		harness.AssertCode(t, err, codes.DeadlineExceeded,
			"what Ack returned when Recv failed with DeadlineExceeded (return the error Recv gave you)")
		assert.Zero(t, stream.sentAndClosed, "calls to SendAndClose after Recv failed")
		var got []string
		harness.Call(t, "hub.Acked()", func() { got = hub.Acked() })
		assert.Equal(t, []string{"t-1", "t-2"}, got, "the tasks recorded before the deadline passed")
	})
}

// ackStationCancels is the station hanging up halfway, for real. One more
// ack, sent just before the cancel, may or may not have arrived: Send
// returning nil never meant the hub had it.
func ackStationCancels(t *testing.T) {
	h := startHub(t)

	ctx, cancel := context.WithCancel(harness.Context(t))
	defer cancel()
	stream, err := h.client.Ack(ctx)
	harness.RequireOK(t, err, "starting an Ack call")
	sendAcks(stream, "t-1", "t-2", "t-1", "t-3")
	h.waitUntilRead(t, "Ack", 4)
	sendAcks(stream, "t-4") // in flight when the station hangs up
	cancel()

	err = harness.Wait(t, h.returned, "the Ack handler to return after the station cancelled")
	harness.AssertCode(t, err, codes.Canceled,
		"what the Ack handler returned after the station cancelled (return the error Recv gave you)")

	got := h.acked(t)
	if !slices.Equal(got, []string{"t-1", "t-2", "t-3"}) && !slices.Equal(got, []string{"t-1", "t-2", "t-3", "t-4"}) {
		t.Errorf("after the cancel the hub recorded %q, want [t-1 t-2 t-3], perhaps with t-4 after them: record each "+
			"ack as it arrives (not at the end of the call), and each task once", got)
	}
}

// TestClientStream_Ack_ManyStationsAtOnce_EachTaskOnce has four stations ack
// the same twenty tasks, in the same order, at the same time. gRPC runs
// each call's handler on its own goroutine, so record runs concurrently with
// itself: every task must be recorded exactly once, whichever station's ack
// came first. The test holds each handler after its first ack until all four
// have one, then lets them go together. (Run it with -race to see a record
// that forgets the lock.)
func TestClientStream_Ack_ManyStationsAtOnce_EachTaskOnce(t *testing.T) {
	h := startHub(t)
	h.raceRun()
	h.hold = make(chan struct{})
	const stations, tasks = 4, 20
	var want []string
	for i := range tasks {
		want = append(want, fmt.Sprintf("t-%02d", i))
	}

	ctx := harness.Context(t)
	done := make(chan error, stations)
	for range stations {
		go func() {
			stream, err := h.client.Ack(ctx)
			if err == nil {
				sendAcks(stream, want...)
				_, err = stream.CloseAndRecv()
			}
			done <- err
		}()
	}
	h.waitHeld(t, stations)
	close(h.hold)
	for range stations {
		err := harness.Wait(t, done, "every station's Ack call to end")
		harness.RequireOK(t, err, "an Ack call of 20 task ids")
	}

	got := h.acked(t)
	slices.Sort(got)
	assert.Equal(t, want, got, "the tasks recorded (sorted) after 4 stations acked the same 20: each once")
}
