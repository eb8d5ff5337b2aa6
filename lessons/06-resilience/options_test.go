package resilience_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/internal/harness"
	resilience "github.com/grpc-workbook/streaming/lessons/06-resilience"
	"github.com/grpc-workbook/streaming/lessons/06-resilience/resiliencepb"
)

// serviceConfig is the part of a gRPC service config this lesson uses.
type serviceConfig struct {
	MethodConfig []struct {
		Name []struct {
			Service string `json:"service"`
			Method  string `json:"method,omitempty"`
		} `json:"name"`
		RetryPolicy *retryPolicy `json:"retryPolicy,omitempty"`
	} `json:"methodConfig"`
}

type retryPolicy struct {
	MaxAttempts          int      `json:"maxAttempts"`
	InitialBackoff       string   `json:"initialBackoff"`
	MaxBackoff           string   `json:"maxBackoff"`
	BackoffMultiplier    float64  `json:"backoffMultiplier"`
	RetryableStatusCodes []string `json:"retryableStatusCodes"`
}

// notRetried stops the test if a Publish that the server refused with
// Unavailable came back with Unavailable: gRPC did not retry it.
func notRetried(t *testing.T, err error, fix string) {
	t.Helper()
	if status.Code(err) == codes.Unavailable {
		t.Fatalf("Publish, refused by the server with Unavailable, came back with %s: gRPC did not retry it; %s",
			harness.Describe(err), fix)
	}
}

// TestResilience_ServiceConfig_RetriesPublishOnUnavailable expects
// ServiceConfig's retry policy to be the README's, for Publish alone, and
// runs it (with its waits shortened to milliseconds: they are gRPC's to
// keep, not yours): a Publish refused 3 times succeeds on the 4th attempt, one
// refused 4 times fails after the 4th, other codes and Subscribe are not
// retried.
func TestResilience_ServiceConfig_RetriesPublishOnUnavailable(t *testing.T) {
	var js string
	harness.Call(t, "resilience.ServiceConfig()", func() { js = resilience.ServiceConfig() })
	var sc serviceConfig
	require.NoError(t, json.Unmarshal([]byte(js), &sc), "ServiceConfig() must be a service config in JSON:\n%s", js)
	require.Len(t, sc.MethodConfig, 1, "ServiceConfig's methodConfig: one entry, for Publish")
	mc := sc.MethodConfig[0]
	require.Len(t, mc.Name, 1, "the names the method config applies to: Publish alone")
	assert.Equal(t, "workbook.resilience.v1.Feed", mc.Name[0].Service, "the service's full name, package included (see feed.proto)")
	assert.Equal(t, "Publish", mc.Name[0].Method,
		"the method: Publish only. Without a method the policy covers every method of the service, Subscribe too, and Follow already retries that")
	require.NotNil(t, mc.RetryPolicy, "the method config's retryPolicy")
	want := retryPolicy{MaxAttempts: 4, InitialBackoff: "0.1s", MaxBackoff: "1s", BackoffMultiplier: 2, RetryableStatusCodes: []string{"UNAVAILABLE"}}
	require.Equal(t, want, *mc.RetryPolicy, "the retry policy")

	mc.RetryPolicy.InitialBackoff, mc.RetryPolicy.MaxBackoff = "0.001s", "0.002s"
	short, err := json.Marshal(sc)
	require.NoError(t, err)
	log := resilience.NewLog(10, 10)
	server := startFeed(t, log)
	client := resiliencepb.NewFeedClient(server.Conn(t, grpc.WithDefaultServiceConfig(string(short))))
	ctx := harness.Context(t)

	server.FailNext("Publish", 3, codes.Unavailable)
	reply, err := publish(ctx, client, "a", "a")
	notRetried(t, err, "the policy must retry UNAVAILABLE, up to 4 attempts")
	requireReply(t, reply, err, 1, false, "one Publish, refused with Unavailable by the first 3 attempts")
	assert.Equal(t, 4, server.Attempts("Publish"), "Publish attempts that reached the server")

	server.FailNext("Publish", 4, codes.Unavailable)
	_, err = publish(ctx, client, "b", "b")
	harness.AssertCode(t, err, codes.Unavailable, "one Publish, refused with Unavailable by 4 attempts")
	assert.Equal(t, 8, server.Attempts("Publish"), "Publish attempts that reached the server: 4 more, and no 5th")

	server.FailNext("Publish", 1, codes.ResourceExhausted)
	_, err = publish(ctx, client, "c", "c")
	harness.AssertCode(t, err, codes.ResourceExhausted, "one Publish, refused with ResourceExhausted")
	assert.Equal(t, 9, server.Attempts("Publish"), "Publish attempts that reached the server: ResourceExhausted is not retried")

	server.FailNext("Subscribe", 1, codes.Unavailable)
	_, err = subscribe(t, ctx, client, 0).Recv()
	harness.AssertCode(t, err, codes.Unavailable, "Subscribe, refused with Unavailable: gRPC must not retry it, Follow does")
	assert.Equal(t, 1, server.Attempts("Subscribe"), "Subscribe attempts that reached the server")
}

// recvFirst subscribes from the start and receives one event.
func recvFirst(ctx context.Context, client resiliencepb.FeedClient) (*resiliencepb.Event, error) {
	stream, err := client.Subscribe(ctx, &resiliencepb.SubscribeRequest{})
	if err != nil {
		return nil, err
	}
	return stream.Recv()
}

// TestResilience_ClientOptions_RetryAndWaitForReady expects a connection
// made with ClientOptions to retry a Publish refused with Unavailable (this
// one waits ServiceConfig's real 0.1 s), and to make a call that starts
// while the server is down wait for it, up to the call's deadline, instead
// of failing at once.
func TestResilience_ClientOptions_RetryAndWaitForReady(t *testing.T) {
	var opts []grpc.DialOption
	harness.Call(t, "resilience.ClientOptions()", func() { opts = resilience.ClientOptions() })
	log := resilience.NewLog(10, 10)
	server := startFeed(t, log)
	conn := server.Conn(t, opts...)
	client := resiliencepb.NewFeedClient(conn)

	server.FailNext("Publish", 1, codes.Unavailable)
	reply, err := publish(harness.Context(t), client, "a", "a")
	notRetried(t, err, "ClientOptions must include grpc.WithDefaultServiceConfig(ServiceConfig())")
	requireReply(t, reply, err, 1, false, "Publish, refused once with Unavailable, on a connection made with ClientOptions")

	// Subscribe, which the retry policy leaves alone, shows WaitForReady
	// by itself.
	server.Stop()
	waitConnectionLost(t, conn)
	ctx, cancel := context.WithTimeout(harness.Context(t), 50*time.Millisecond)
	defer cancel()
	_, err = recvFirst(ctx, client)
	harness.AssertCode(t, err, codes.DeadlineExceeded,
		"Subscribe with a 50ms deadline while the server is down: with WaitForReady it waits for the server until its deadline "+
			"(without, it fails at once with Unavailable)")

	type first struct {
		ev  *resiliencepb.Event
		err error
	}
	result := make(chan first, 1)
	ctx = harness.Context(t)
	go func() {
		ev, err := recvFirst(ctx, client)
		result <- first{ev, err}
	}()
	server.WaitRefused(t)
	server.Start()
	got := harness.Wait(t, result, "a Subscribe made while the server was down to deliver once it is back")
	harness.RequireOK(t, got.err, "Subscribe made while the server was down, once it is back")
	assert.Equal(t, uint64(1), got.ev.GetSeq(), "the first event of a Subscribe made while the server was down")
}

// TestResilience_ClientOptions_ReplyLost_PublishedOnce expects gRPC's
// retry and the request id to make a lost reply invisible: the first
// attempt publishes, its reply is lost with the connection, gRPC retries
// on its own (after a real 0.1 s), and the retry finds the event published.
func TestResilience_ClientOptions_ReplyLost_PublishedOnce(t *testing.T) {
	var opts []grpc.DialOption
	harness.Call(t, "resilience.ClientOptions()", func() { opts = resilience.ClientOptions() })
	log := resilience.NewLog(10, 10)
	server := startFeed(t, log)
	client := resiliencepb.NewFeedClient(server.Conn(t, opts...))

	server.LoseNextReply("Publish")
	reply, err := publish(harness.Context(t), client, "x", "once")
	notRetried(t, err, "ClientOptions must include grpc.WithDefaultServiceConfig(ServiceConfig())")
	requireReply(t, reply, err, 1, true, "Publish whose first reply was lost: gRPC retried it, and the retry found the event")
	assert.Equal(t, 2, server.Attempts("Publish"), "Publish attempts that reached the server")
	logHolds(t, log, "once")
}

// TestResilience_Keepalive_ClientAndServerAgree expects the README's
// numbers, and the one rule that binds them: the server must accept pings
// as often as the client sends them, or it answers the client's third early
// ping with GOAWAY too_many_pings and closes the connection.
func TestResilience_Keepalive_ClientAndServerAgree(t *testing.T) {
	var client keepalive.ClientParameters
	var policy keepalive.EnforcementPolicy
	harness.Call(t, "resilience.Keepalive()", func() { client, policy = resilience.Keepalive() })

	assert.Equal(t, keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: false}, client,
		"the client's keepalive: ping after 30s of quiet, give up 10s later, and not on a connection with no call")
	assert.Equal(t, keepalive.EnforcementPolicy{MinTime: 20 * time.Second, PermitWithoutStream: false}, policy,
		"the server's enforcement policy: pings 20s apart or more, and none on a connection with no call")
	assert.Less(t, policy.MinTime, client.Time,
		"the server's MinTime must be below the client's Time: a client that pings more often than MinTime gets GOAWAY too_many_pings")
	assert.GreaterOrEqual(t, client.Time, 10*time.Second, "the client's Time: gRPC raises anything below 10s to 10s")
	if client.PermitWithoutStream {
		assert.True(t, policy.PermitWithoutStream, "a client that pings with no call open needs a server that permits it")
	}
}
