package pubsub_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"

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

// dispatch calls pubsub.Dispatch(ev, h) through harness.Call, so a nil
// handler called by mistake fails the test instead of ending it.
func dispatch(t *testing.T, ev *pubsubpb.Event, h pubsub.Handlers) (err error) {
	t.Helper()
	call := "pubsub.Dispatch(nil, h)"
	if ev != nil {
		call = fmt.Sprintf("pubsub.Dispatch({%s}, h)", prototext.MarshalOptions{}.Format(ev))
	}
	harness.Call(t, call, func() { err = pubsub.Dispatch(ev, h) })
	return err
}

// listen calls pubsub.Listen through harness.Call.
func listen(t *testing.T, ctx context.Context, client pubsubpb.HubClient, h pubsub.Handlers) (err error) {
	t.Helper()
	harness.Call(t, `pubsub.Listen(ctx, client, "ann", h)`, func() { err = pubsub.Listen(ctx, client, "ann", h) })
	return err
}

// requireStatus stops the test unless err carries want's code and message:
// Listen hands the stream's own status back to its caller.
func requireStatus(t *testing.T, want *status.Status, err error, what string) {
	t.Helper()
	if got := status.Convert(err); got.Code() != want.Code() || got.Message() != want.Message() {
		t.Fatalf("%s: want codes.%s (%q), got %s", what, want.Code(), want.Message(), harness.Describe(err))
	}
}

// --- Task 9: Tell events apart on the client ---

func TestPubSub_Dispatch_EachKindToItsHandler(t *testing.T) {
	// Each kind goes to its own handler; a nil handler means "not
	// interested": skipped, never called.
	var r recorder
	for _, ev := range []*pubsubpb.Event{first("ann", 1), timer(7), message(3, "hi"), goodbye(2)} {
		require.NoError(t, dispatch(t, ev, r.handlers()))
	}
	assert.Equal(t, []string{"First(ann)", "Timer(7)", "Message(3, hi)", "Goodbye(dropped=2)"}, r.calls, "the handlers Dispatch called")

	for _, ev := range []*pubsubpb.Event{first("ann", 1), timer(7), message(4, "ignored"), goodbye(0)} {
		assert.NoError(t, dispatch(t, ev, pubsub.Handlers{}), "Dispatch with no handler for the event's kind: skip it")
	}
}

func TestPubSub_Dispatch_UnsetKind_IsAnError(t *testing.T) {
	// An event with no kind set (or no event at all) is an error wrapping
	// ErrNoKind, and no handler is called.
	var r recorder
	assert.ErrorIs(t, dispatch(t, &pubsubpb.Event{}, r.handlers()), pubsub.ErrNoKind,
		"Dispatch of an Event with no kind set: an unset oneof must be an error, not ignored")
	assert.ErrorIs(t, dispatch(t, nil, r.handlers()), pubsub.ErrNoKind, "Dispatch(nil)")
	assert.Empty(t, r.calls, "handlers called for events with no kind")
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
	// Listen dispatches every event in order, and io.EOF after Goodbye is
	// success: nil.
	client, _ := startScripted(t, &scriptedHub{script: []*pubsubpb.Event{
		first("ann", 1), timer(1), message(1, "hello"), timer(2), goodbye(0),
	}})
	var r recorder
	err := listen(t, harness.Context(t), client, r.handlers())
	require.NoError(t, err, "Listen over a stream that ended with Goodbye and io.EOF: io.EOF is success")
	assert.Equal(t, []string{"First(ann)", "Timer(1)", "Message(1, hello)", "Timer(2)", "Goodbye(dropped=0)"}, r.calls,
		"the handlers Listen called")
}

func TestPubSub_Listen_EOFWithoutGoodbye_IsNil(t *testing.T) {
	// io.EOF is the good ending even when no Goodbye came before it: the
	// stream ended with status OK, and Listen returns nil.
	client, _ := startScripted(t, &scriptedHub{script: []*pubsubpb.Event{first("ann", 1), message(1, "hello")}})
	var r recorder
	err := listen(t, harness.Context(t), client, r.handlers())
	require.NoError(t, err, "Listen over a stream that ended with io.EOF right after a message")
	assert.Equal(t, []string{"First(ann)", "Message(1, hello)"}, r.calls, "the handlers Listen called")
}

func TestPubSub_Listen_StreamError_IsReturned(t *testing.T) {
	// A Recv error other than io.EOF is returned as it is: the caller reads
	// the stream's own code and message from it.
	client, _ := startScripted(t, &scriptedHub{
		script: []*pubsubpb.Event{first("ann", 1)},
		end:    status.Error(codes.ResourceExhausted, "scripted failure"),
	})
	var r recorder
	err := listen(t, harness.Context(t), client, r.handlers())
	requireStatus(t, status.New(codes.ResourceExhausted, "scripted failure"), err,
		"Listen over a stream that failed after First: return Recv's error as it is")
	assert.Equal(t, []string{"First(ann)"}, r.calls, "the handlers Listen called before the failure")
}

func TestPubSub_Listen_UnsetKind_EndsTheCall(t *testing.T) {
	// An event Dispatch cannot handle ends Listen with that error, and ends
	// the call too, or the server would stream on to a client that no
	// longer reads.
	client, srv := startScripted(t, &scriptedHub{
		script:   []*pubsubpb.Event{first("ann", 1), {}}, // the second event has no kind
		holdOpen: true,
	})
	var r recorder
	err := listen(t, harness.Context(t), client, r.handlers())
	require.ErrorIs(t, err, pubsub.ErrNoKind, "Listen's error after an event with no kind: pass Dispatch's error on")

	returned := srv.HandlerReturned(t, "Subscribe")
	harness.AssertCode(t, returned.Err, codes.Canceled,
		"the server's Subscribe handler after Listen returned early: Listen must cancel its call")
}

func TestPubSub_Listen_CallerCancels_ReturnsCanceled(t *testing.T) {
	// The call is made with the caller's ctx: when the caller cancels while
	// the server still streams, Recv fails with Canceled, Listen returns
	// that, and the server's handler ends too.
	client, srv := startScripted(t, &scriptedHub{script: []*pubsubpb.Event{first("ann", 1)}, holdOpen: true})
	ctx, cancel := context.WithCancel(harness.Context(t))
	defer cancel()
	h := pubsub.Handlers{First: func(*pubsubpb.First) { cancel() }} // the caller gives up after First

	err := listen(t, ctx, client, h)
	requireStatus(t, status.New(codes.Canceled, "context canceled"), err,
		"Listen after its caller cancelled ctx: make the call with ctx (or one derived from it), and return Recv's error as it is")
	returned := srv.HandlerReturned(t, "Subscribe")
	harness.AssertCode(t, returned.Err, codes.Canceled, "the server's Subscribe handler after the caller cancelled")
}
