package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/internal/harness"
	resilience "github.com/grpc-workbook/streaming/lessons/06-resilience"
	"github.com/grpc-workbook/streaming/lessons/06-resilience/resiliencepb"
)

// serveLog serves log with the lesson's Server, through the harness.
func serveLog(t *testing.T, log *resilience.Log) (resiliencepb.FeedClient, *harness.Server) {
	t.Helper()
	srv := harness.Start(t, func(s *grpc.Server) { resiliencepb.RegisterFeedServer(s, resilience.NewServer(log)) })
	return resiliencepb.NewFeedClient(srv.Conn), srv
}

type eventStream = grpc.ServerStreamingClient[resiliencepb.Event]

func subscribe(t *testing.T, ctx context.Context, client resiliencepb.FeedClient, after uint64) eventStream {
	t.Helper()
	stream, err := client.Subscribe(ctx, &resiliencepb.SubscribeRequest{AfterSeq: after})
	harness.RequireOK(t, err, fmt.Sprintf("Subscribe(after_seq=%d)", after))
	return stream
}

// requireEvents receives len(want) events and checks their numbers and
// payloads.
func requireEvents(t *testing.T, stream eventStream, what string, want ...uint64) {
	t.Helper()
	for _, seq := range want {
		ev, err := stream.Recv()
		harness.RequireOK(t, err, fmt.Sprintf("Recv of event %d (%s)", seq, what))
		require.Equal(t, int(seq), int(ev.GetSeq()), "the next event's number (%s)", what)
		require.Equal(t, fmt.Sprintf("event %d", seq), ev.GetPayload(), "event %d's payload (%s)", seq, what)
	}
}

func appendEvents(t *testing.T, log *resilience.Log, from, to uint64) {
	t.Helper()
	harness.Call(t, fmt.Sprintf("log.Append of events %d to %d", from, to), func() {
		for seq := from; seq <= to; seq++ {
			log.Append(fmt.Sprintf("event %d", seq))
		}
	})
}

// TestResilience_Subscribe_ReplaysThenStreamsLive expects Subscribe to send
// the events after after_seq that the log holds, then each new one as it is
// appended, on one stream, with nothing missed between the two.
func TestResilience_Subscribe_ReplaysThenStreamsLive(t *testing.T) {
	log := resilience.NewLog(10, 10)
	client, _ := serveLog(t, log)
	ctx := harness.Context(t)
	appendEvents(t, log, 1, 3)

	resumed := subscribe(t, ctx, client, 1)
	requireEvents(t, resumed, "subscribed after 1: the replay", 2, 3)
	fresh := subscribe(t, ctx, client, 0)
	requireEvents(t, fresh, "subscribed after 0: from the start", 1, 2, 3)

	appendEvents(t, log, 4, 5)
	requireEvents(t, resumed, "subscribed after 1: live, once the replay is sent", 4, 5)
	requireEvents(t, fresh, "subscribed after 0: live", 4, 5)
}

// TestResilience_Subscribe_PositionNotInLog_OutOfRange expects Subscribe to
// fail at once with codes.OutOfRange when the events after after_seq were
// dropped from the log, or after_seq is past the last event, and to accept
// both edges of what the log holds.
func TestResilience_Subscribe_PositionNotInLog_OutOfRange(t *testing.T) {
	log := resilience.NewLog(3, 3)
	client, _ := serveLog(t, log)
	ctx := harness.Context(t)
	appendEvents(t, log, 1, 12) // the log keeps 10, 11, 12

	_, err := subscribe(t, ctx, client, 8).Recv()
	harness.RequireCode(t, err, codes.OutOfRange, "Subscribe(after_seq=8) when the oldest event kept is 10")
	assert.Contains(t, status.Convert(err).Message(), "10",
		"the OutOfRange message should name the oldest event the log still holds, 10, so the client can tell how much it missed")

	_, err = subscribe(t, ctx, client, 13).Recv()
	harness.RequireCode(t, err, codes.OutOfRange, "Subscribe(after_seq=13) when the last event is 12")

	requireEvents(t, subscribe(t, ctx, client, 9), "subscribed after 9, just before the oldest kept", 10, 11, 12)
	atLast := subscribe(t, ctx, client, 12)
	appendEvents(t, log, 13, 13)
	requireEvents(t, atLast, "subscribed after 12, the last event: nothing to replay, then live", 13)
}

// TestResilience_Subscribe_ClientLeaves_HandlerReturns expects the handler
// to notice through its ctx that the client cancelled, while it waits for
// new events, and return codes.Canceled.
func TestResilience_Subscribe_ClientLeaves_HandlerReturns(t *testing.T) {
	log := resilience.NewLog(10, 10)
	client, srv := serveLog(t, log)
	appendEvents(t, log, 1, 1)

	ctx, cancel := context.WithCancel(harness.Context(t))
	stream := subscribe(t, ctx, client, 0)
	requireEvents(t, stream, "before the client leaves", 1) // the handler now waits for event 2
	cancel()

	_, err := stream.Recv()
	harness.AssertCode(t, err, codes.Canceled, "Recv after the client cancelled")
	returned := srv.HandlerReturned(t, "Subscribe") // fails here if the handler waits for events alone
	harness.AssertCode(t, returned.Err, codes.Canceled, "the Subscribe handler's error after its client left")
}

// sendFails is a server stream whose Send fails: the client is gone, but
// the stream's ctx, as a test builds it, never ends.
type sendFails struct {
	grpc.ServerStream // nil: the handler needs only Send and Context
	ctx               context.Context
	sends             int
}

var errSendFailed = errors.New("send failed: the client is gone")

func (s *sendFails) Send(*resiliencepb.Event) error { s.sends++; return errSendFailed }
func (s *sendFails) Context() context.Context       { return s.ctx }

// TestResilience_Subscribe_SendFails_ReturnsTheError expects the handler
// to stop at the first failed Send and return its error: after that the
// stream is dead, and nothing else would end the handler.
func TestResilience_Subscribe_SendFails_ReturnsTheError(t *testing.T) {
	log := resilience.NewLog(10, 10)
	appendEvents(t, log, 1, 3)
	stream := &sendFails{ctx: harness.Context(t)}

	var err error
	harness.Call(t, "Server.Subscribe(after_seq=0) on a stream whose Send fails", func() {
		err = resilience.NewServer(log).Subscribe(&resiliencepb.SubscribeRequest{}, stream)
	})
	assert.ErrorIs(t, err, errSendFailed, "Subscribe's error when Send failed: return Send's error")
	assert.Equal(t, 1, stream.sends, "Send calls: the first failure ends the handler")
}
