package interceptors_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/internal/harness"
	interceptors "github.com/grpc-workbook/streaming/lessons/07-interceptors"
	"github.com/grpc-workbook/streaming/lessons/07-interceptors/interceptorspb"
)

// tokens is a TokenSource whose token the test sets, and which can fail.
type tokens struct {
	mu    sync.Mutex
	token string
	err   error
	asked int
}

func (s *tokens) Token(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked++
	return s.token, s.err
}

func (s *tokens) set(token string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token, s.err = token, err
}

// serveWithCredentials serves the lesson's Server over TLS to a client
// dialed with your TokenCredentials over source.
func serveWithCredentials(t *testing.T, source interceptors.TokenSource) *bench {
	t.Helper()
	return serve(t, setup{tls: true, dial: []grpc.DialOption{
		grpc.WithPerRPCCredentials(interceptors.TokenCredentials{Source: source}),
	}})
}

// TestInterceptors_TokenCredentials_BearerOnEveryCall expects every call of
// a connection dialed with your TokenCredentials to carry exactly one
// "authorization: Bearer <token>", whatever its kind.
func TestInterceptors_TokenCredentials_BearerOnEveryCall(t *testing.T) {
	source := &tokens{token: "tok-ada"}
	b := serveWithCredentials(t, source)
	b.stations.setLatest(reading("summit", 1))
	ctx := harness.Context(t)

	_, err := b.client.Latest(ctx, &interceptorspb.LatestRequest{Station: "summit"})
	harness.RequireOK(t, err, "Latest over TLS with your TokenCredentials")
	_, err = upload(t, ctx, b.client, reading("summit", 2))
	harness.RequireOK(t, err, "Upload over TLS with your TokenCredentials")
	stream, err := b.client.Watch(ctx, &interceptorspb.WatchRequest{Station: "summit"})
	harness.RequireOK(t, err, "Watch over TLS with your TokenCredentials")
	b.stations.nextFollow(t).stop()
	_, err = recvAll(t, stream)
	harness.RequireOK(t, err, "Watch over TLS with your TokenCredentials")

	for _, method := range []string{"Latest", "Upload", "Watch"} {
		h := b.nextHandled(t, "the "+method+" handler to run")
		assert.Equal(t, []string{"Bearer tok-ada"}, h.md.Get(interceptors.AuthorizationKey), "the authorization metadata of %s", short(h.method))
	}
}

// TestInterceptors_TokenCredentials_AsksForTheTokenOnEveryCall expects a new
// token to be sent from the next call on: the credentials ask the source
// each time, and keep no copy.
func TestInterceptors_TokenCredentials_AsksForTheTokenOnEveryCall(t *testing.T) {
	source := &tokens{token: "tok-old"}
	b := serveWithCredentials(t, source)
	b.stations.setLatest(reading("summit", 1))
	ctx := harness.Context(t)

	for _, token := range []string{"tok-old", "tok-new"} {
		source.set(token, nil)
		_, err := b.client.Latest(ctx, &interceptorspb.LatestRequest{Station: "summit"})
		harness.RequireOK(t, err, "Latest with the token "+token)
		h := b.nextHandled(t, "the Latest handler to run")
		assert.Equal(t, []string{"Bearer " + token}, h.md.Get(interceptors.AuthorizationKey), "the authorization metadata once the source hands out %s", token)
	}
}

// TestInterceptors_TokenCredentials_SourceFails_Unauthenticated expects a
// call whose token cannot be had to fail with codes.Unauthenticated, saying
// why: return the source's error as it is, and gRPC makes it so.
func TestInterceptors_TokenCredentials_SourceFails_Unauthenticated(t *testing.T) {
	source := &tokens{}
	source.set("", errors.New("the identity provider is down"))
	b := serveWithCredentials(t, source)

	_, err := b.client.Latest(harness.Context(t), &interceptorspb.LatestRequest{Station: "summit"})
	harness.AssertCode(t, err, codes.Unauthenticated, "Latest when the token source fails")
	assert.Contains(t, status.Convert(err).Message(), "the identity provider is down", "the status message should say why there is no token")
	b.noHandler(t, "a call that has no token")
}

// TestInterceptors_TokenCredentials_OnlyOverTLS expects your credentials to
// require transport security, so that gRPC never sends the token in clear
// text: grpc.NewClient refuses them with insecure transport credentials.
func TestInterceptors_TokenCredentials_OnlyOverTLS(t *testing.T) {
	creds := interceptors.TokenCredentials{Source: &tokens{token: "tok-ada"}}
	var secure bool
	harness.Call(t, "TokenCredentials.RequireTransportSecurity()", func() { secure = creds.RequireTransportSecurity() })
	assert.True(t, secure, "RequireTransportSecurity(): a bearer token is a password")

	conn, err := grpc.NewClient("passthrough:///telemetry.test",
		grpc.WithContextDialer(func(context.Context, string) (net.Conn, error) { return nil, errors.New("no network here") }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(creds))
	if err == nil {
		conn.Close()
	}
	assertErrorContains(t, err, "transport level security", "grpc.NewClient with insecure transport credentials and your TokenCredentials")
}

func assertErrorContains(t *testing.T, err error, want, call string) {
	t.Helper()
	require.Error(t, err, "%s should fail", call)
	assert.Contains(t, err.Error(), want, "%s: the error", call)
}
