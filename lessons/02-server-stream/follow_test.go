package serverstream_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/grpc-workbook/streaming/internal/harness"
	serverstream "github.com/grpc-workbook/streaming/lessons/02-server-stream"
	"github.com/grpc-workbook/streaming/lessons/02-server-stream/logpb"
)

// writeLive writes text to the live log, unless the Follow stream has already
// ended (then the test fails, saying how it ended).
func writeLive(t *testing.T, live chan<- string, text string, results <-chan received) {
	t.Helper()
	ctx := harness.Context(t)
	select {
	case live <- text:
	case r := <-results:
		if r.err != nil {
			harness.RequireOK(t, r.err, "Follow, while the test was writing a line to the live log", task4)
		}
		t.Fatalf("Follow sent line %d:%q before anything was written to the live log; see README.md, %q", r.line.GetNumber(), r.line.GetText(), task4)
	case <-ctx.Done():
		t.Fatalf("nothing took the line %q from the live log within %v: Follow must read s.live; see README.md, %q", text, harness.FailSafe, task4)
	}
}

// nextLine waits for the next line the background receiver got.
func nextLine(t *testing.T, results <-chan received, what string) *logpb.LogLine {
	t.Helper()
	r := harness.Wait(t, results, what)
	harness.RequireOK(t, r.err, what, task4)
	return r.line
}

func TestServerStream_Follow_SendsLiveLines(t *testing.T) {
	harness.See(t, task4)
	client, _, live := startLogs(t)
	stream, _ := openFollow(t, harness.Context(t), client)
	results := receiveInBackground(stream)

	var got []*logpb.LogLine
	for _, text := range []string{"GET /", "GET /favicon.ico"} {
		writeLive(t, live, text, results)
		got = append(got, nextLine(t, results, "Follow to send the line just written to the live log"))
	}
	if diff := linesDiff(numbered("GET /", "GET /favicon.ico"), got); diff != "" {
		t.Errorf("Follow: %s; see README.md, %q", diff, task4)
	}
}

// TestServerStream_Follow_ClientCancels_ServerStops cancels a Follow call
// while the live log is quiet. The client drains Recv to its first error and
// sees Canceled; the handler, waiting for a line that will not come, must
// notice through its context and return.
func TestServerStream_Follow_ClientCancels_ServerStops(t *testing.T) {
	harness.See(t, task4)
	client, srv, live := startLogs(t)
	failsafe := harness.Context(t)
	stream, cancel := openFollow(t, failsafe, client)
	results := receiveInBackground(stream)

	writeLive(t, live, "GET /", results)
	nextLine(t, results, "Follow to send the line just written to the live log")
	cancel() // the live log is quiet now: the handler is waiting for a line

	// Drain: Recv until the first error. Lines already on their way may come
	// first; the stream's end comes last.
	var end error
	for r := range results {
		end = r.err
	}
	harness.AssertCode(t, end, codes.Canceled, "Follow, client side, after cancel()", task4)

	handler := srv.HandlerReturnedPromptly(t, "Follow")
	harness.RequireBeforeFailSafe(t, failsafe, "Follow returned", "it must watch stream.Context().Done() while it waits for a line", task4)
	harness.AssertCode(t, handler.Err, codes.Canceled, "Follow handler's returned error after the client cancelled", task4)
}

func TestServerStream_FollowN_CancelsTheStream(t *testing.T) {
	harness.See(t, task5)
	client, srv := startScripted(t, &scriptedLogs{}) // live is nil: Follow sends lines without end

	failsafe := harness.Context(t)
	got, err := serverstream.FollowN(failsafe, client, 3)
	harness.RequireOK(t, err, "FollowN(ctx, client, 3) against a Follow that never ends", task5)
	require.Len(t, got, 3, "FollowN(ctx, client, 3): got %s; see README.md, %q", show(got), task5)
	for i, line := range got {
		assert.Equal(t, int64(i+1), line.GetNumber(), "FollowN: line %d has the wrong number; see README.md, %q", i+1, task5)
	}

	handler := srv.HandlerReturnedPromptly(t, "Follow")
	harness.RequireBeforeFailSafe(t, failsafe, "the server's Follow stopped", "FollowN left its stream open; cancel the call's context before returning", task5)
	harness.AssertCode(t, handler.Err, codes.Canceled, "the server's Follow after FollowN returned", task5)
}
