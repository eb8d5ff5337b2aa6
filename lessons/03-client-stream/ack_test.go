package clientstream_test

import (
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/grpc-workbook/streaming/internal/harness"
	clientstream "github.com/grpc-workbook/streaming/lessons/03-client-stream"
	"github.com/grpc-workbook/streaming/lessons/03-client-stream/sensorpb"
)

const task5 = "Task 5: Record acknowledgements"

// sendAcks sends one acknowledgement per task id. It ignores Send's errors
// on purpose: the tests judge the hub by what it recorded and by the status
// the call ends with.
func sendAcks(stream sensorpb.Hub_AckClient, taskIDs ...string) {
	for _, id := range taskIDs {
		_ = stream.Send(&sensorpb.Acknowledgement{TaskId: id})
	}
}

func assertAcked(t *testing.T, hub *clientstream.Server, want []string, when string) {
	t.Helper()
	assert.Equal(t, want, hub.Acked(),
		"%s: the hub recorded (right) instead of (left): each task once, in the order its first ack arrived; see README.md, %q",
		when, task5)
}

func TestClientStream_Ack_RecordsEachTaskOnce(t *testing.T) {
	harness.See(t, task5)
	client, srv, hub := startHub(t)

	stream, err := client.Ack(harness.Context(t))
	harness.RequireOK(t, err, "starting an Ack call", task5)
	// t-1 comes twice: a station that is unsure an ack arrived sends it again.
	sendAcks(stream, "t-1", "t-2", "t-1", "t-3")
	reply, err := stream.CloseAndRecv()
	requireReplied(t, err, "Ack of t-1, t-2, t-1, t-3", task5)
	assert.True(t, proto.Equal(&emptypb.Empty{}, reply), "Ack: got reply %v, want an empty message: see README.md, %q", reply, task5)

	assertAcked(t, hub, []string{"t-1", "t-2", "t-3"}, "after Ack of t-1, t-2, t-1, t-3")
	handler := srv.HandlerReturned(t, "Ack")
	harness.AssertCode(t, handler.Err, codes.OK, "the Ack handler's returned error", task5)
}

func TestClientStream_Ack_EmptyTaskID_InvalidArgument(t *testing.T) {
	harness.See(t, task5)
	client, _, hub := startHub(t)

	stream, err := client.Ack(harness.Context(t))
	harness.RequireOK(t, err, "starting an Ack call", task5)
	sendAcks(stream, "t-1", "")
	_, err = stream.CloseAndRecv()
	harness.RequireCode(t, err, codes.InvalidArgument, `Ack of "t-1", then ""`, task5)
	assert.Contains(t, status.Convert(err).Message(), "task_id",
		"the status message should name the empty field: see README.md, %q", task5)
	assertAcked(t, hub, []string{"t-1"}, "after the Ack call was rejected")
}

// ackSpy wraps your Server to see how far its Ack handler has got: each time
// the handler calls Recv, it has finished with every acknowledgement before.
type ackSpy struct {
	*clientstream.Server
	recvCalls chan int   // before each Recv: how many acks the handler already got
	returned  chan error // what Ack returned
}

type countingAckStream struct {
	sensorpb.Hub_AckServer
	spy      *ackSpy
	received int
}

func (s *ackSpy) Ack(stream sensorpb.Hub_AckServer) error {
	err := s.Server.Ack(&countingAckStream{Hub_AckServer: stream, spy: s})
	s.returned <- err
	return err
}

func (c *countingAckStream) Recv() (*sensorpb.Acknowledgement, error) {
	c.spy.recvCalls <- c.received
	ack, err := c.Hub_AckServer.Recv()
	if err == nil {
		c.received++
	}
	return ack, err
}

// TestClientStream_Ack_ClientCancels_KeepsWhatArrived is the station hanging
// up halfway. The acks the hub had received before stay recorded, none
// twice. One more ack, sent just before the cancel, may or may not have
// arrived: Send returning nil never meant the hub had it.
func TestClientStream_Ack_ClientCancels_KeepsWhatArrived(t *testing.T) {
	harness.See(t, task5)
	hub := clientstream.NewServer()
	spy := &ackSpy{Server: hub, recvCalls: make(chan int, 64), returned: make(chan error, 1)}
	srv := harness.Start(t, func(s *grpc.Server) { sensorpb.RegisterHubServer(s, spy) })
	client := sensorpb.NewHubClient(srv.Conn)

	ctx, cancel := context.WithCancel(harness.Context(t))
	defer cancel()
	stream, err := client.Ack(ctx)
	harness.RequireOK(t, err, "starting an Ack call", task5)
	sendAcks(stream, "t-1", "t-2", "t-1", "t-3")

	// Wait until the handler asks for a fifth ack: it is done with four.
	for done := false; !done; {
		select {
		case n := <-spy.recvCalls:
			done = n == 4
		case err := <-spy.returned:
			t.Fatalf("Ack returned %v before it had received the 4 acks sent: read them with Recv until the stream ends; "+
				"see README.md, %q", err, task5)
		case <-ctx.Done():
			t.Fatalf("the Ack handler never asked for a fifth ack after 4 were sent: see README.md, %q", task5)
		}
	}
	sendAcks(stream, "t-4") // in flight when the station hangs up
	cancel()

	err = harness.Wait(t, spy.returned, "the Ack handler to return after the client cancelled")
	harness.AssertCode(t, err, codes.Canceled,
		"the Ack handler's returned error after the client cancelled (return the error Recv gave you)", task5)

	got := hub.Acked()
	if !slices.Equal(got, []string{"t-1", "t-2", "t-3"}) && !slices.Equal(got, []string{"t-1", "t-2", "t-3", "t-4"}) {
		t.Errorf("after the cancel the hub recorded %q, want [t-1 t-2 t-3], perhaps with t-4 after them: record each "+
			"ack as it arrives (not at the end of the call), and each task once; see README.md, %q", got, task5)
	}
}
