package pubsub_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/internal/harness"
	pubsub "github.com/grpc-workbook/streaming/lessons/05-pubsub"
	"github.com/grpc-workbook/streaming/lessons/05-pubsub/pubsubpb"
)

// recorder is a set of Handlers that writes down every call, in order.
type recorder struct {
	calls []string
}

func (r *recorder) handlers() pubsub.Handlers {
	return pubsub.Handlers{
		First: func(f *pubsubpb.First) { r.calls = append(r.calls, fmt.Sprintf("First(%s)", f.GetName())) },
		Timer: func(tm *pubsubpb.Timer) { r.calls = append(r.calls, fmt.Sprintf("Timer(%d)", tm.GetTick())) },
		Message: func(m *pubsubpb.Message) {
			r.calls = append(r.calls, fmt.Sprintf("Message(%d, %s)", m.GetSeq(), m.GetPayload()))
		},
		Goodbye: func(g *pubsubpb.Goodbye) {
			r.calls = append(r.calls, fmt.Sprintf("Goodbye(dropped=%d)", g.GetDropped()))
		},
	}
}

// --- Task 9: Tell events apart on the client ---

func TestPubSub_Dispatch_EachKindToItsHandler(t *testing.T) {
	var r recorder
	for _, ev := range []*pubsubpb.Event{first("ann", 1), timer(7), message(3, "hi"), goodbye(2)} {
		err := pubsub.Dispatch(ev, r.handlers())
		require.NoError(t, err, "Dispatch({%v}): %s", ev, see(task9))
	}
	assert.Equal(t, []string{"First(ann)", "Timer(7)", "Message(3, hi)", "Goodbye(dropped=2)"}, r.calls,
		"the handlers Dispatch called: got (left), want (right); %s", see(task9))

	// A nil handler means "not interested": skipped, not a panic.
	assert.NoError(t, pubsub.Dispatch(message(4, "ignored"), pubsub.Handlers{}),
		"Dispatch of a Message with no Message handler: skip it; %s", see(task9))
}

func TestPubSub_Dispatch_UnsetKind_IsAnError(t *testing.T) {
	var r recorder
	err := pubsub.Dispatch(&pubsubpb.Event{}, r.handlers())
	assert.ErrorIs(t, err, pubsub.ErrNoKind, "Dispatch of an Event with no kind set: an unset oneof must be an error, not ignored; %s", see(task9))
	err = pubsub.Dispatch(nil, r.handlers())
	assert.ErrorIs(t, err, pubsub.ErrNoKind, "Dispatch(nil): %s", see(task9))
	assert.Empty(t, r.calls, "handlers called for events with no kind: %s", see(task9))
}

// --- Task 10: Listen until Goodbye ---

// scriptedHub is the test's own Hub service: its Subscribe sends a fixed
// list of events and then ends with end, or, with holdOpen, waits for the
// client to leave. It lets the client tests depend on client.go alone.
type scriptedHub struct {
	pubsubpb.UnimplementedHubServer
	script   []*pubsubpb.Event
	end      error
	holdOpen bool
}

func (h *scriptedHub) Subscribe(req *pubsubpb.SubscribeRequest, stream grpc.ServerStreamingServer[pubsubpb.Event]) error {
	for _, ev := range h.script {
		if err := stream.Send(ev); err != nil {
			return err
		}
	}
	if h.holdOpen {
		<-stream.Context().Done()
		return status.FromContextError(stream.Context().Err()).Err()
	}
	return h.end
}

func startScripted(t *testing.T, h *scriptedHub) (pubsubpb.HubClient, *harness.Server) {
	t.Helper()
	srv := harness.Start(t, func(s *grpc.Server) { pubsubpb.RegisterHubServer(s, h) })
	return pubsubpb.NewHubClient(srv.Conn), srv
}

func TestPubSub_Listen_DispatchesUntilGoodbyeAndEOF(t *testing.T) {
	client, _ := startScripted(t, &scriptedHub{script: []*pubsubpb.Event{
		first("ann", 1), timer(1), message(1, "hello"), timer(2), goodbye(0),
	}})
	var r recorder
	err := pubsub.Listen(harness.Context(t), client, "ann", r.handlers())
	require.NoError(t, err, "Listen over a stream that ended with Goodbye and io.EOF: io.EOF is success; %s", see(task10))
	assert.Equal(t, []string{"First(ann)", "Timer(1)", "Message(1, hello)", "Timer(2)", "Goodbye(dropped=0)"}, r.calls,
		"the handlers Listen called: got (left), want (right); %s", see(task10))
}

func TestPubSub_Listen_StreamError_IsReturned(t *testing.T) {
	client, _ := startScripted(t, &scriptedHub{
		script: []*pubsubpb.Event{first("ann", 1)},
		end:    status.Error(codes.ResourceExhausted, "scripted failure"),
	})
	var r recorder
	err := pubsub.Listen(harness.Context(t), client, "ann", r.handlers())
	harness.AssertCode(t, err, codes.ResourceExhausted, "Listen over a stream that failed after First", task10)
	assert.Equal(t, []string{"First(ann)"}, r.calls, "the handlers Listen called before the failure; %s", see(task10))
}

func TestPubSub_Listen_UnsetKind_EndsTheCall(t *testing.T) {
	client, srv := startScripted(t, &scriptedHub{
		script:   []*pubsubpb.Event{first("ann", 1), {}}, // the second event has no kind
		holdOpen: true,
	})
	var r recorder
	ctx := harness.Context(t)
	err := pubsub.Listen(ctx, client, "ann", r.handlers())
	require.ErrorIs(t, err, pubsub.ErrNoKind, "Listen's error after an event with no kind: pass Dispatch's error on; %s", see(task10))

	// Returning early must end the call, or the server would stream on to a
	// client that no longer reads.
	returned := srv.HandlerReturnedPromptly(t, "Subscribe")
	harness.RequireBeforeFailSafe(t, ctx, "the server's Subscribe handler returned",
		"Listen must cancel its call when it returns early", task10)
	harness.AssertCode(t, returned.Err, codes.Canceled,
		"the server's Subscribe handler after Listen returned early: Listen must cancel its call", task10)
}
