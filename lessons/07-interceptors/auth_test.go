package interceptors_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/internal/harness"
	interceptors "github.com/grpc-workbook/streaming/lessons/07-interceptors"
	"github.com/grpc-workbook/streaming/lessons/07-interceptors/interceptorspb"
)

// serveAuth serves the lesson's Server behind your Auth's Stream and Unary
// interceptors, and nothing else.
func serveAuth(t *testing.T) *bench {
	t.Helper()
	auth, _ := newAuth()
	return serve(t, setup{server: []grpc.ServerOption{
		grpc.ChainStreamInterceptor(auth.Stream),
		grpc.ChainUnaryInterceptor(auth.Unary),
	}})
}

// callEach makes a Watch, an Upload and a Latest call with ctx and returns
// each one's error.
func callEach(t *testing.T, ctx context.Context, b *bench) map[string]error {
	t.Helper()
	errs := map[string]error{}
	stream, err := b.client.Watch(ctx, &interceptorspb.WatchRequest{Station: "moon"}) // the handler, if it runs, fails with NotFound
	if err == nil {
		md := header(t, stream, "the Watch stream's header")
		if len(md.Get(interceptors.StationKey)) > 0 {
			t.Errorf("Watch sent a header (%v) for a call that should have been rejected before its handler ran", md)
		}
		_, err = stream.Recv()
	}
	errs["Watch"] = err
	_, errs["Upload"] = upload(t, ctx, b.client, reading("summit", 1))
	_, errs["Latest"] = b.client.Latest(ctx, &interceptorspb.LatestRequest{Station: "summit"})
	return errs
}

// TestInterceptors_Auth_NoToken_Unauthenticated expects every call without
// an "authorization" value to fail with codes.Unauthenticated before any
// handler runs.
func TestInterceptors_Auth_NoToken_Unauthenticated(t *testing.T) {
	b := serveAuth(t)

	for method, err := range callEach(t, harness.Context(t), b) {
		harness.AssertCode(t, err, codes.Unauthenticated, method+" with no token")
	}
	b.noHandler(t, "calls with no token")
}

// TestInterceptors_Auth_MalformedOrUnknownToken_Unauthenticated expects
// every "authorization" that is not exactly one "Bearer <token>" for a token
// that exists to be codes.Unauthenticated, with a message that does not
// repeat the token (messages end up in logs).
func TestInterceptors_Auth_MalformedOrUnknownToken_Unauthenticated(t *testing.T) {
	b := serveAuth(t)

	for _, values := range [][]string{
		{"tok-ada"},                          // no scheme
		{"Bearer"},                           // no token
		{"Bearer "},                          // an empty token
		{"Basic tok-ada"},                    // another scheme
		{"Bearer tok-eve"},                   // a token nobody issued
		{"Bearer tok-ada", "Bearer tok-bob"}, // two: which one?
	} {
		ctx := harness.Context(t)
		for _, v := range values {
			ctx = metadata.AppendToOutgoingContext(ctx, interceptors.AuthorizationKey, v)
		}
		for method, err := range callEach(t, ctx, b) {
			call := fmt.Sprintf("%s with authorization %q", method, values)
			harness.AssertCode(t, err, codes.Unauthenticated, call)
			assert.NotContains(t, status.Convert(err).Message(), "tok-", "%s: the message must not repeat the token", call)
		}
	}
	b.noHandler(t, "calls with a malformed or unknown token")
}

// TestInterceptors_Auth_SchemeInAnyCase expects "bearer" and "BEARER" to be
// accepted as "Bearer": HTTP's authentication schemes are case-insensitive.
func TestInterceptors_Auth_SchemeInAnyCase(t *testing.T) {
	b := serveAuth(t)
	b.stations.setLatest(reading("summit", 1))

	for _, scheme := range []string{"bearer", "BEARER"} {
		ctx := metadata.AppendToOutgoingContext(harness.Context(t), interceptors.AuthorizationKey, scheme+" tok-ada")
		_, err := b.client.Latest(ctx, &interceptorspb.LatestRequest{Station: "summit"})
		if harness.AssertCode(t, err, codes.OK, fmt.Sprintf("Latest with authorization %q", scheme+" tok-ada")) {
			h := b.nextHandled(t, "the Latest handler to run")
			assert.Equal(t, "Ada", h.caller.Name, "the caller the handler sees")
		}
	}
}

// TestInterceptors_Auth_ExpiredToken_Unauthenticated expects a token to be
// valid strictly before its Expires: at that very moment it has expired. A
// zero Expires never expires.
func TestInterceptors_Auth_ExpiredToken_Unauthenticated(t *testing.T) {
	b := serveAuth(t) // its clock stands at t0
	b.stations.setLatest(reading("summit", 1))
	ctx := harness.Context(t)

	_, err := b.client.Latest(withToken(ctx, "tok-dan"), &interceptorspb.LatestRequest{Station: "summit"})
	harness.AssertCode(t, err, codes.Unauthenticated, "Latest with a token that expires now (Expires == Now())")
	b.noHandler(t, "Latest with an expired token")

	for _, token := range []string{"tok-cleo", "tok-ada"} {
		call := fmt.Sprintf("Latest as %s, whose token expires %v", callers[token].Name, callers[token].Expires)
		_, err := b.client.Latest(withToken(ctx, token), &interceptorspb.LatestRequest{Station: "summit"})
		harness.AssertCode(t, err, codes.OK, call)
		if err == nil {
			b.nextHandled(t, "the Latest handler to run")
		}
	}
}

// TestInterceptors_Auth_NotAllowed_PermissionDenied expects a valid token
// whose caller may not call the method to be codes.PermissionDenied (we know
// who you are; you may not), and the rest to go through.
func TestInterceptors_Auth_NotAllowed_PermissionDenied(t *testing.T) {
	b := serveAuth(t)
	ctx := harness.Context(t)

	_, err := upload(t, withToken(ctx, "tok-bob"), b.client, reading("summit", 1))
	harness.AssertCode(t, err, codes.PermissionDenied, "Upload as Bob, who may not upload")
	b.noHandler(t, "an Upload of a caller who may not upload")

	summary, err := upload(t, withToken(ctx, "tok-ada"), b.client, reading("summit", 1))
	harness.AssertCode(t, err, codes.OK, "Upload as Ada, who may upload")
	assert.Equal(t, uint32(1), summary.GetStored(), "readings stored")
}

// TestInterceptors_Auth_HandlerSeesTheCaller expects the handler to find the
// caller in its context with CallerFrom: in the stream's Context for a
// stream (the interceptor hands it a stream that overrides Context), in ctx
// for a unary call.
func TestInterceptors_Auth_HandlerSeesTheCaller(t *testing.T) {
	b := serveAuth(t)
	b.stations.setLatest(reading("summit", 1))
	ctx := harness.Context(t)

	stream, err := b.client.Watch(withToken(ctx, "tok-ada"), &interceptorspb.WatchRequest{Station: "summit"})
	harness.RequireOK(t, err, `Watch("summit") as Ada`)
	h := b.nextHandled(t, "the Watch handler to run")
	assert.True(t, h.known, "CallerFrom(stream.Context()) in the Watch handler found no caller: give the handler a stream whose Context carries it")
	assert.Equal(t, "Ada", h.caller.Name, "the caller the Watch handler sees")
	b.stations.nextFollow(t).stop()
	_, err = recvAll(t, stream)
	harness.AssertCode(t, err, codes.OK, `Watch("summit") as Ada`)

	_, err = b.client.Latest(withToken(ctx, "tok-bob"), &interceptorspb.LatestRequest{Station: "summit"})
	harness.RequireOK(t, err, `Latest("summit") as Bob`)
	h = b.nextHandled(t, "the Latest handler to run")
	assert.Equal(t, "Bob", h.caller.Name, "the caller the Latest handler sees in its ctx")
}

// TestInterceptors_Auth_HandlerContextIsTheCallsContext expects the context
// the handler gets to be the call's own, with a caller added: it still holds
// the call's metadata, and it ends when the client cancels.
func TestInterceptors_Auth_HandlerContextIsTheCallsContext(t *testing.T) {
	b := serveAuth(t)

	ctx, cancel := context.WithCancel(withToken(harness.Context(t), "tok-ada"))
	ctx = metadata.AppendToOutgoingContext(ctx, "x-request-id", "r-1")
	_, err := b.client.Watch(ctx, &interceptorspb.WatchRequest{Station: "summit"})
	harness.RequireOK(t, err, `Watch("summit") as Ada`)
	h := b.nextHandled(t, "the Watch handler to run")
	assert.Equal(t, "Ada", h.caller.Name, "the caller the Watch handler sees")
	assert.Equal(t, []string{"r-1"}, h.md.Get("x-request-id"),
		"the call's metadata in the handler's context: build the handler's context from ss.Context(), not context.Background()")
	b.stations.nextFollow(t)
	cancel()

	end := b.nextEnded(t, "the Watch handler to return after the client cancelled: its context must end with the call's")
	harness.AssertCode(t, end.err, codes.Canceled, "the server's Watch after the client cancelled")
}

// outermost is the advice when the log has no line for a call that
// authentication rejected.
func outermost(logger, auth string) string {
	return fmt.Sprintf("is %s in ServerOptions' chain, before %s? Interceptors run in the order they are chained, "+
		"and one chained after %s never sees the calls it rejects", logger, auth, auth)
}

// TestInterceptors_ServerOptions_LogsAroundAuthentication serves with your
// ServerOptions and expects logging outermost, so that the calls
// authentication rejects are logged too (a rejected stream received
// nothing: its handler never read the request), and the handler to see
// the caller.
func TestInterceptors_ServerOptions_LogsAroundAuthentication(t *testing.T) {
	log := newLog()
	auth, _ := newAuth()
	var opts []grpc.ServerOption
	harness.Call(t, "ServerOptions(log, auth)", func() { opts = interceptors.ServerOptions(log, auth) })
	b := serve(t, setup{server: opts})
	ctx := harness.Context(t)

	stream, err := b.client.Watch(ctx, &interceptorspb.WatchRequest{Station: "summit"})
	if err == nil {
		_, err = stream.Recv()
	}
	harness.AssertCode(t, err, codes.Unauthenticated, "Watch with no token")
	assert.Equal(t, watchMethod+" received=0 sent=0 code=Unauthenticated",
		log.writtenOr(t, "the Watch authentication rejected", statusReceived, outermost("LogStream", "auth.Stream")),
		"the log line of a Watch that authentication rejected: received=0, as auth.Stream returns before the handler reads the request")

	_, err = b.client.Latest(ctx, &interceptorspb.LatestRequest{Station: "summit"})
	harness.AssertCode(t, err, codes.Unauthenticated, "Latest with no token")
	assert.Equal(t, latestMethod+" received=1 sent=0 code=Unauthenticated",
		log.writtenOr(t, "the Latest authentication rejected", statusReceived, outermost("LogUnary", "auth.Unary")),
		"the log line of a Latest that authentication rejected")

	stream, err = b.client.Watch(withToken(ctx, "tok-ada"), &interceptorspb.WatchRequest{Station: "summit"})
	harness.RequireOK(t, err, `Watch("summit") as Ada`)
	h := b.nextHandled(t, "the Watch handler to run")
	assert.Equal(t, "Ada", h.caller.Name, "the caller the Watch handler sees")
	b.stations.nextFollow(t).stop()
	_, err = recvAll(t, stream)
	harness.AssertCode(t, err, codes.OK, `Watch("summit") as Ada`)
	assert.Equal(t, watchMethod+" received=1 sent=0 code=OK", log.written(t, "Ada's Watch", statusReceived), "the log line of Ada's Watch")
}
