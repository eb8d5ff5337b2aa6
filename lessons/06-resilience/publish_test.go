package resilience_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/grpc-workbook/streaming/internal/harness"
	resilience "github.com/grpc-workbook/streaming/lessons/06-resilience"
	"github.com/grpc-workbook/streaming/lessons/06-resilience/resiliencepb"
)

func publish(ctx context.Context, client resiliencepb.FeedClient, id, payload string) (*resiliencepb.PublishReply, error) {
	return client.Publish(ctx, &resiliencepb.PublishRequest{RequestId: id, Payload: payload})
}

// requireReply checks a Publish call succeeded with the reply wanted.
func requireReply(t *testing.T, reply *resiliencepb.PublishReply, err error, seq uint64, duplicate bool, call string) {
	t.Helper()
	harness.RequireOK(t, err, call)
	want := &resiliencepb.PublishReply{Seq: seq, Duplicate: duplicate}
	if !proto.Equal(want, reply) {
		t.Fatalf("%s: got the reply {%v}, want {%v}", call, reply, want)
	}
}

// logHolds checks the log holds exactly these payloads, numbered 1, 2, ...
func logHolds(t *testing.T, log *resilience.Log, payloads ...string) {
	t.Helper()
	_, got, _, err := read(t, log, 0)
	if err != nil {
		t.Fatalf("log.Read(0): %v", err)
	}
	assert.Equal(t, payloads, got, "the payloads of the events in the log: one event per request id")
}

// TestResilience_Publish_SameRequestID_PublishesOnce expects a second
// Publish with a request id already published to publish nothing and reply
// with the first one's number, marked duplicate.
func TestResilience_Publish_SameRequestID_PublishesOnce(t *testing.T) {
	log := resilience.NewLog(10, 10)
	client, _ := serveLog(t, log)
	ctx := harness.Context(t)

	reply, err := publish(ctx, client, "a", "first")
	requireReply(t, reply, err, 1, false, `Publish(request_id="a")`)
	reply, err = publish(ctx, client, "a", "first")
	requireReply(t, reply, err, 1, true, `Publish(request_id="a") again, a retry`)
	reply, err = publish(ctx, client, "b", "")
	requireReply(t, reply, err, 2, false, `Publish(request_id="b", payload="") (an empty payload is a payload)`)
	logHolds(t, log, "first", "")
}

// TestResilience_Publish_EmptyRequestID_InvalidArgument expects a Publish
// with no request id to be refused: without one, a retry could not be told
// from a new event.
func TestResilience_Publish_EmptyRequestID_InvalidArgument(t *testing.T) {
	log := resilience.NewLog(10, 10)
	client, _ := serveLog(t, log)

	_, err := publish(harness.Context(t), client, "", "no id")
	harness.RequireCode(t, err, codes.InvalidArgument, `Publish(request_id="")`)
	logHolds(t, log)
}

// TestResilience_Publish_ReplyLost_RetryPublishesOnce is the case retries
// exist for: the first attempt succeeded, but its reply was lost with the
// connection, so the client saw codes.Unavailable and cannot know. It
// retries with the same request id, once on the same server, once after the
// server restarted, and each event is published once.
func TestResilience_Publish_ReplyLost_RetryPublishesOnce(t *testing.T) {
	log := resilience.NewLog(10, 10)
	server := startFeed(t, log)
	client := resiliencepb.NewFeedClient(server.Conn(t))
	ctx := harness.Context(t)

	server.LoseNextReply("Publish")
	_, err := publish(ctx, client, "x", "first")
	harness.RequireCode(t, err, codes.Unavailable, `Publish(request_id="x") whose reply the test lost`)
	logHolds(t, log, "first") // the work was done: only the reply is missing
	reply, err := publish(ctx, client, "x", "first")
	requireReply(t, reply, err, 1, true, `Publish(request_id="x") retried after Unavailable`)

	server.LoseNextReply("Publish")
	_, err = publish(ctx, client, "y", "second")
	harness.RequireCode(t, err, codes.Unavailable, `Publish(request_id="y") whose reply the test lost`)
	server.Restart() // a new Server over the same Log: the request ids must outlive it
	reply, err = publish(ctx, client, "y", "second")
	requireReply(t, reply, err, 2, true, `Publish(request_id="y") retried after the server restarted`)
	logHolds(t, log, "first", "second")
}

// TestResilience_Publish_RemembersTheLatestIDs expects a log that
// remembers 3 request ids to recognise each of the latest 3 publishes (the
// oldest of them included), and to have forgotten the one before.
func TestResilience_Publish_RemembersTheLatestIDs(t *testing.T) {
	log := resilience.NewLog(10, 3)
	type result struct {
		seq uint64
		dup bool
	}
	pub := func(id string) result {
		var r result
		harness.Call(t, fmt.Sprintf("log.Publish(%q, ...)", id), func() { r.seq, r.dup = log.Publish(id, id) })
		return r
	}
	require.Equal(t, []result{{1, false}, {2, false}, {3, false}}, []result{pub("a"), pub("b"), pub("c")}, "publishing a, b, c")
	assert.Equal(t, result{1, true}, pub("a"), `a retry of "a": one of the latest 3 ids (the oldest of them), so still remembered`)
	assert.Equal(t, result{4, false}, pub("d"), `publishing "d"`)
	assert.Equal(t, result{2, true}, pub("b"), `a retry of "b": one of the latest 3 (b, c, d), so still remembered`)
	assert.Equal(t, result{5, false}, pub("a"), `a retry of "a" after b, c and d: 4 publishes ago, forgotten, so published again`)
}

// TestResilience_Publish_ConcurrentRetries_PublishOnce expects attempts of
// one request id arriving at the same time (a retry overtaking a slow first
// attempt) to publish one event: all get its number, one gets
// duplicate=false.
func TestResilience_Publish_ConcurrentRetries_PublishOnce(t *testing.T) {
	const attempts = 10
	log := resilience.NewLog(10, 10)
	client, _ := serveLog(t, log)
	ctx := harness.Context(t)

	replies := make([]*resiliencepb.PublishReply, attempts)
	errs := make([]error, attempts)
	var wg sync.WaitGroup
	for i := range attempts {
		wg.Go(func() { replies[i], errs[i] = publish(ctx, client, "same", "once") })
	}
	wg.Wait()
	firsts := 0
	for i := range attempts {
		harness.RequireOK(t, errs[i], `one of 10 concurrent Publish(request_id="same")`)
		assert.Equal(t, 1, int(replies[i].GetSeq()), "the number in every reply")
		if !replies[i].GetDuplicate() {
			firsts++
		}
	}
	assert.Equal(t, 1, firsts, "replies with duplicate=false: exactly one attempt published")
	logHolds(t, log, "once")
}
