package harness

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The explainer's scenarios are scripted: each builds the calls as the
// recorder would have left them, at a fixed now, and expects the report word
// for word. The first ones are the cases where it used to blame the wrong
// side; the rest are the ones it gets right.

var now = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// ago is a moment before now.
func ago(d string) time.Time {
	dur, err := time.ParseDuration(d)
	if err != nil {
		panic(err)
	}
	return now.Add(-dur)
}

// in builds an op in progress since ago(d).
func in(kind opKind, n int, d string) *op { return &op{kind: kind, n: n, since: ago(d)} }

// kept builds an op that was in progress from ago(d) until the harness
// ended its call at ago(until).
func kept(kind opKind, n int, d, until string, why endReason) *op {
	return &op{kind: kind, n: n, since: ago(d), ended: ago(until), why: why}
}

var (
	serverStreaming = shape{serverStreams: true}
	clientStreaming = shape{clientStreams: true}
	bidi            = shape{clientStreams: true, serverStreams: true}
	canceled        = status.Error(codes.Canceled, "context canceled")
)

func TestReport_Scenarios(t *testing.T) {
	for _, tc := range []struct {
		name  string
		calls []*call
		want  string
	}{{
		// It used to say "not in Send or Recv ... the client has not
		// cancelled": it had.
		name: "a Firehose spins on failed Sends after the client cancelled",
		calls: []*call{{n: 1, method: "/logs.Logs/Firehose", shape: serverStreaming,
			client: true, server: true, clientSent: 1, clientRecv: 5, closedSend: true,
			clientDone: true, clientErr: canceled, clientEnd: ctxEnd{ago("1.9s"), endCancelled},
			started: true, serverRecv: 1, serverSent: 4005, sendFailures: 4000, lastSendErr: canceled, serverEnd: ago("1.9s"),
			ops: []*op{in(opHandler, 0, "2s"), in(opServerSend, 4006, "0s")}}},
		want: `Still in progress:
  server: handler Firehose running, for 2s
  server: Send #4006, for 0s
Seen so far:
  client: sent 1, received 5; the call ended for it with codes.Canceled ("context canceled"); its context was cancelled 1.9s ago
  server: received 1, sent 5; Send failed 4000 times, the last with codes.Canceled ("context canceled"); the handler has not returned; its context ended 1.9s ago
What that means:
  The handler's context ended 1.9s ago and its Send has failed 4000 times, yet it still runs: it goes on after Send fails. Send's error means the call is over: return it.
`,
	}, {
		name: "a Firehose that does not watch its context, after the client cancelled",
		calls: []*call{{n: 1, method: "/logs.Logs/Firehose", shape: serverStreaming,
			client: true, server: true, clientSent: 1, clientRecv: 2, closedSend: true,
			clientDone: true, clientErr: canceled, clientEnd: ctxEnd{ago("1.5s"), endCancelled},
			started: true, serverRecv: 1, serverSent: 2, serverEnd: ago("1.5s"),
			ops: []*op{in(opHandler, 0, "2s")}}},
		want: `Still in progress:
  server: handler Firehose running, for 2s
Seen so far:
  client: sent 1, received 2; the call ended for it with codes.Canceled ("context canceled"); its context was cancelled 1.5s ago
  server: received 1, sent 2; the handler has not returned; its context ended 1.5s ago
What that means:
  The handler's context ended 1.5s ago, yet it still runs: a handler must return once its context ends (ctx.Done(), or stream.Context().Done(), in every wait).
`,
	}, {
		// The test plays the server and waits for the learner's Reader,
		// which never calls Recv. The test's own handler is blameless.
		name: "a Reader stub that never reads, against the test's own server",
		calls: []*call{{n: 1, method: "/logs.Logs/Follow", shape: serverStreaming,
			client: true, server: true, clientSent: 1, closedSend: true, started: true, serverRecv: 1,
			ops: []*op{in(opHandler, 0, "2s")}}},
		want: `Still in progress:
  server: handler Follow running, for 2s
Seen so far:
  client: sent 1, received 0; its context is live
  server: received 1, sent 0; the handler has not returned; its context is live
`,
	}, {
		// The test's subscribers wait for their streams to end; the stub's
		// Shutdown does nothing. Neither the clients nor the handlers are
		// to blame for that.
		name: "a Shutdown stub leaves the test's subscribers waiting",
		calls: []*call{
			{n: 1, method: "/pubsub.Hub/Subscribe", shape: serverStreaming, client: true, server: true, clientSent: 1, closedSend: true,
				started: true, serverRecv: 1, ops: []*op{in(opClientRecv, 1, "2s"), in(opHandler, 0, "2s")}},
			{n: 2, method: "/pubsub.Hub/Subscribe", shape: serverStreaming, client: true, server: true, clientSent: 1, closedSend: true,
				started: true, serverRecv: 1, ops: []*op{in(opClientRecv, 1, "2s"), in(opHandler, 0, "2s")}},
		},
		want: `Still in progress:
  [1] client: Recv, waiting for message #1, for 2s
  [1] server: handler Subscribe running, for 2s
  [2] client: Recv, waiting for message #1, for 2s
  [2] server: handler Subscribe running, for 2s
Seen so far:
  [1] client: sent 1, received 0; its context is live
  [1] server: received 1, sent 0; the handler has not returned; its context is live
  [2] client: sent 1, received 0; its context is live
  [2] server: received 1, sent 0; the handler has not returned; its context is live
`,
	}, {
		// It used to say "Deadlock: both sides sending", from what the
		// teardown did to the call. The ops the fail-safe ended are kept
		// as they were.
		name: "a missing CloseSend, reported after the fail-safe ended the call",
		calls: []*call{{n: 1, method: "/sensors.Sensors/Upload", shape: clientStreaming,
			client: true, server: true, clientSent: 3, started: true, serverRecv: 3,
			clientDone: true, clientErr: status.Error(codes.DeadlineExceeded, "context deadline exceeded"), clientEnd: ctxEnd{ago("10ms"), endFailSafe},
			returned: true, handlerErr: canceled, serverEnd: ago("10ms"),
			ops: []*op{
				kept(opClientRecv, 1, "2s", "10ms", endFailSafe), kept(opHandler, 0, "2s", "10ms", endFailSafe),
				kept(opServerRecv, 4, "2s", "10ms", endFailSafe),
			}}},
		want: `Still in progress:
  client: Recv, waiting for message #1, for 1.99s, until its call's context reached the harness's fail-safe deadline (CallTimeout, 2s)
  server: handler Upload running, for 1.99s, until its call's context reached the harness's fail-safe deadline (CallTimeout, 2s)
  server: Recv, waiting for message #4, for 1.99s, until its call's context reached the harness's fail-safe deadline (CallTimeout, 2s)
Seen so far:
  client: sent 3, received 0; has not called CloseSend; the call ended for it with codes.DeadlineExceeded ("context deadline exceeded"); its context reached the harness's fail-safe deadline (CallTimeout, 2s) 10ms ago
  server: received 3, sent 0; the handler returned codes.Canceled ("context canceled"); its context ended 10ms ago
What that means:
  The server's Recv returns io.EOF only after the client calls CloseSend (CloseAndRecv does both), and the client has not: it waits in Recv for the reply instead.
`,
	}, {
		name: "a server blocked in Send: the client stopped reading",
		calls: []*call{{n: 1, method: "/logs.Logs/Firehose", shape: serverStreaming,
			client: true, server: true, clientSent: 1, closedSend: true, clientRecv: 10, started: true, serverRecv: 1, serverSent: 40,
			ops: []*op{in(opHandler, 0, "2.2s"), in(opServerSend, 40, "2s")}}},
		want: `Still in progress:
  server: handler Firehose running, for 2.2s
  server: Send #40, for 2s
Seen so far:
  client: sent 1, received 10; its context is live
  server: received 1, sent 40; the handler has not returned; its context is live
What that means:
  The server's Send #40 has waited 2s: gRPC's flow control holds a sender until the other side reads, and the client is not in Recv.
`,
	}, {
		name: "a client blocked in Send: the handler stopped reading",
		calls: []*call{{n: 1, method: "/sensors.Sensors/Upload", shape: clientStreaming,
			client: true, server: true, clientSent: 200, started: true, serverRecv: 12,
			ops: []*op{in(opClientSend, 200, "2s"), in(opHandler, 0, "2.2s")}}},
		want: `Still in progress:
  client: Send #200, for 2s
  server: handler Upload running, for 2.2s
Seen so far:
  client: sent 200, received 0; has not called CloseSend; its context is live
  server: received 12, sent 0; the handler has not returned; its context is live
What that means:
  The client's Send #200 has waited 2s: gRPC's flow control holds a sender until the other side reads, and the handler is not in Recv.
`,
	}, {
		name: "a unary handler that hangs",
		calls: []*call{{n: 1, method: "/greeter.Greeter/Say", client: true, server: true, clientSent: 1, started: true, serverRecv: 1,
			ops: []*op{in(opClientUnary, 1, "2s"), in(opHandler, 0, "2s")}}},
		want: `Still in progress:
  client: waiting for the reply, for 2s
  server: handler Say running, for 2s
Seen so far:
  client: sent 1, received 0; its context is live
  server: received 1, sent 0; the handler has not returned; its context is live
What that means:
  The client waits for the handler Say, which has run for 2s: a unary reply is sent when the handler returns.
`,
	}, {
		name: "a call the server never saw",
		calls: []*call{{n: 1, method: "/greeter.Greeter/Say", client: true, clientSent: 1,
			ops: []*op{in(opClientUnary, 1, "2s")}}},
		want: `Still in progress:
  client: waiting for the reply, for 2s
Seen so far:
  client: sent 1, received 0; its context is live
  server: the handler has not started
`,
	}, {
		name: "nothing in progress",
		calls: []*call{{n: 1, method: "/greeter.Greeter/Say", client: true, server: true, clientSent: 1, clientRecv: 1,
			clientDone: true, started: true, returned: true, serverRecv: 1, serverSent: 1}},
		want: "",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := report(tc.calls, now)
			assert.Equal(t, tc.want, got)
			if strings.Contains(got, "What that means:") {
				assert.NotContains(t, got, "What that means:\n\n", "a header with nothing under it")
				assert.NotRegexp(t, `What that means:\n$`, got)
			}
		})
	}
}

// bothInRecv is a call two seconds in, where the client waits in Recv for
// its next message and the server in Recv for the client's next, and no
// CloseSend came.
func bothInRecv(method string, sh shape, sent, received int) []*call {
	return []*call{{n: 1, method: method, shape: sh, client: true, server: true, started: true,
		clientSent: sent, serverRecv: sent, clientRecv: received, serverSent: received,
		ops: []*op{in(opClientRecv, received+1, "2s"), in(opHandler, 0, "2s"), in(opServerRecv, sent+1, "2s")}}}
}

// Both sides wait in Recv, and no CloseSend came. In a client-streaming call
// that proves the client owes one. In a bidi stream it proves nothing: in a
// Work handler spinning on a closed queue while its receiving goroutine
// waits in Recv, the explainer used to blame the client's CloseSend, when
// only the stacks show the spinning. A few milliseconds in, it proves
// nothing either: a test that fails at once catches a call between steps.
func TestReport_BothSidesInRecv(t *testing.T) {
	const seen = `Still in progress:
  client: Recv, waiting for message #%[1]d, for 2s
  server: handler %[3]s running, for 2s
  server: Recv, waiting for message #%[2]d, for 2s
Seen so far:
  client: sent %[4]d, received %[5]d; has not called CloseSend; its context is live
  server: received %[4]d, sent %[5]d; the handler has not returned; its context is live
`
	work := bothInRecv("/bidi.Dispatcher/Work", bidi, 1, 1)
	assert.Equal(t, fmt.Sprintf(seen, 2, 2, "Work", 1, 1), report(work, now))

	upload := bothInRecv("/sensors.Sensors/Upload", clientStreaming, 3, 0)
	assert.Equal(t, fmt.Sprintf(seen, 1, 4, "Upload", 3, 0)+`What that means:
  The server's Recv returns io.EOF only after the client calls CloseSend (CloseAndRecv does both), and the client has not: it waits in Recv for the reply instead.
`, report(upload, now))

	assert.Equal(t, strings.ReplaceAll(fmt.Sprintf(seen, 1, 4, "Upload", 3, 0), "for 2s", "for 5ms"), report(upload, ago("1.995s")))
}
