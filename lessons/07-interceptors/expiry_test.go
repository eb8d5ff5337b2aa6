package interceptors_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/internal/harness"
	interceptors "github.com/grpc-workbook/streaming/lessons/07-interceptors"
	"github.com/grpc-workbook/streaming/lessons/07-interceptors/interceptorspb"
)

// serveExpiring serves the lesson's Server behind auth.Stream and your
// auth.Expire, on the tests' clock.
func serveExpiring(t *testing.T) (*bench, *fakeTimers) {
	t.Helper()
	auth, timers := newAuth()
	return serve(t, setup{server: []grpc.ServerOption{grpc.ChainStreamInterceptor(auth.Stream, auth.Expire)}}), timers
}

// TestInterceptors_Expire_EndsTheStreamWhenTheTokenExpires watches as Bob,
// whose token expires in an hour, and expects Expire to start a timer for
// exactly that hour before it calls the handler and, when it fires, to end
// the stream with codes.Unauthenticated (the trailer still says where to
// resume).
func TestInterceptors_Expire_EndsTheStreamWhenTheTokenExpires(t *testing.T) {
	b, timers := serveExpiring(t)

	stream, err := b.client.Watch(withToken(harness.Context(t), "tok-bob"), &interceptorspb.WatchRequest{Station: "summit"})
	harness.RequireOK(t, err, `Watch("summit") as Bob`)
	f := b.stations.nextFollow(t)
	timer := timers.asked(t, "the Watch handler ran")
	assert.Equal(t, time.Hour, timer.d, "the timer's duration: Bob's token expires an hour after Now()")
	f.send(t, reading("summit", 1))
	_, err = stream.Recv()
	harness.RequireOK(t, err, "Recv of reading 1, before the token expires")

	timer.fire(t) // the hour has passed
	end := b.nextEnded(t, "the server to end the Watch once the token expired")
	harness.AssertCode(t, end.err, codes.Unauthenticated, "what the server's interceptors returned for the Watch")
	_, err = stream.Recv()
	harness.AssertCode(t, err, codes.Unauthenticated, "Recv once Bob's token expired")
	assert.Contains(t, status.Convert(err).Message(), "Bob", "the message should say whose token expired")
	assert.Equal(t, []string{cursor(1)}, stream.Trailer().Get(interceptors.CursorKey), "the trailer's cursor: where to resume")
}

// TestInterceptors_Expire_StreamEndsFirst_StopsTheTimer expects a stream
// that ends before the token expires to stop its timer by the time the
// client has the status: a timer left running holds the stream's context
// until the token expires, an hour later.
func TestInterceptors_Expire_StreamEndsFirst_StopsTheTimer(t *testing.T) {
	b, timers := serveExpiring(t)

	stream, err := b.client.Watch(withToken(harness.Context(t), "tok-bob"), &interceptorspb.WatchRequest{Station: "summit"})
	harness.RequireOK(t, err, `Watch("summit") as Bob`)
	b.stations.nextFollow(t).stop()
	timer := timers.asked(t, "the Watch handler ran")
	_, err = recvAll(t, stream)
	harness.RequireOK(t, err, `Watch("summit") as Bob, to its end`)

	assert.True(t, timer.isStopped(), "the timer's stop function was not called when the stream ended: call it once the handler returned")
	end := b.nextEnded(t, "the server to end the Watch")
	harness.AssertCode(t, end.err, codes.OK, "what the server's interceptors returned for a Watch that ended before the token expired")
}

// TestInterceptors_Expire_ClientCancels_StaysCanceled expects a stream the
// client cancelled to end as Canceled, not Unauthenticated: only an expired
// token makes an Unauthenticated.
func TestInterceptors_Expire_ClientCancels_StaysCanceled(t *testing.T) {
	b, timers := serveExpiring(t)

	ctx, cancel := context.WithCancel(withToken(harness.Context(t), "tok-bob"))
	_, err := b.client.Watch(ctx, &interceptorspb.WatchRequest{Station: "summit"})
	harness.RequireOK(t, err, `Watch("summit") as Bob`)
	b.stations.nextFollow(t)
	timer := timers.asked(t, "the Watch handler ran")
	cancel()

	end := b.nextEnded(t, "the server to end the cancelled Watch")
	harness.AssertCode(t, end.err, codes.Canceled, "what the server's interceptors returned for a Watch its client cancelled")
	assert.True(t, timer.isStopped(), "the timer of a cancelled stream should be stopped")
}

// TestInterceptors_Expire_TokenThatNeverExpires_NoTimer expects no timer
// for a token whose Expires is zero, and a timer for the shortest wait of
// all, a nanosecond, for a token that expires a nanosecond from now.
func TestInterceptors_Expire_TokenThatNeverExpires_NoTimer(t *testing.T) {
	b, timers := serveExpiring(t)
	ctx := harness.Context(t)

	stream, err := b.client.Watch(withToken(ctx, "tok-ada"), &interceptorspb.WatchRequest{Station: "summit"})
	harness.RequireOK(t, err, `Watch("summit") as Ada`)
	b.stations.nextFollow(t).stop()
	_, err = recvAll(t, stream)
	harness.RequireOK(t, err, `Watch("summit") as Ada, whose token never expires`)
	timers.none(t, "Ada's token never expires (Expires is zero)")

	_, err = b.client.Watch(withToken(ctx, "tok-cleo"), &interceptorspb.WatchRequest{Station: "summit"})
	harness.RequireOK(t, err, `Watch("summit") as Cleo`)
	b.stations.nextFollow(t)
	assert.Equal(t, time.Nanosecond, timers.asked(t, "Cleo's Watch handler ran").d,
		"the timer's duration for Cleo, whose token expires a nanosecond after Now()")
}

// TestInterceptors_ServerOptions_ExpiryInsideAuthentication serves with your
// ServerOptions and expects Expire to run inside authentication, where it
// finds the caller, and the expiry to be logged.
func TestInterceptors_ServerOptions_ExpiryInsideAuthentication(t *testing.T) {
	log := newLog()
	auth, timers := newAuth()
	var opts []grpc.ServerOption
	harness.Call(t, "ServerOptions(log, auth)", func() { opts = interceptors.ServerOptions(log, auth) })
	b := serve(t, setup{server: opts})

	stream, err := b.client.Watch(withToken(harness.Context(t), "tok-bob"), &interceptorspb.WatchRequest{Station: "summit"})
	harness.RequireOK(t, err, `Watch("summit") as Bob`)
	b.stations.nextFollow(t)
	timer := timers.asked(t, "the Watch handler ran (is Expire in ServerOptions' chain, after auth.Stream? It finds Bob's token only there)")
	timer.fire(t)
	b.nextEnded(t, "the server to end the Watch once the token expired")
	_, err = stream.Recv()
	harness.AssertCode(t, err, codes.Unauthenticated, "Recv once Bob's token expired")
	assert.Equal(t, watchMethod+" received=1 sent=0 code=Unauthenticated", log.written(t, "the expired Watch", statusReceived), "the log line of the expired Watch")
}

// --- Follow -----------------------------------------------------------------

// followScript is a Watch service whose streams follow a script, one
// attempt after the other (an attempt past the script fails with
// Unauthenticated), and a Refresh that the test can make fail. It keeps a
// list of what happened, in order.
type followScript struct {
	attempts   []func(*interceptorspb.WatchRequest, interceptorspb.Telemetry_WatchServer) error
	refreshErr error

	mu     sync.Mutex
	events []string
}

func (s *followScript) note(format string, args ...any) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, fmt.Sprintf(format, args...))
	n := 0
	for _, e := range s.events {
		if e[:5] == "watch" {
			n++
		}
	}
	return n
}

func (s *followScript) watch(req *interceptorspb.WatchRequest, stream interceptorspb.Telemetry_WatchServer) error {
	n := s.note("watch after %d", req.GetAfterSeq())
	if n > len(s.attempts) {
		return status.Error(codes.Unauthenticated, "the token has expired")
	}
	return s.attempts[n-1](req, stream)
}

func (s *followScript) refresh(context.Context) error {
	s.note("refresh")
	return s.refreshErr
}

func (s *followScript) history() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.events...)
}

// sendThen is an attempt that sends readings from, from+1, ..., to, then
// ends with err.
func sendThen(from, to uint64, err error) func(*interceptorspb.WatchRequest, interceptorspb.Telemetry_WatchServer) error {
	return func(req *interceptorspb.WatchRequest, stream interceptorspb.Telemetry_WatchServer) error {
		for seq := from; seq <= to; seq++ {
			if err := stream.Send(reading(req.GetStation(), seq)); err != nil {
				return err
			}
		}
		return err
	}
}

var expired = status.Error(codes.Unauthenticated, "the token has expired")

// follow runs your Follow against the script and returns its error and the
// readings it handled.
func (s *followScript) follow(t *testing.T, ctx context.Context, after uint64) ([]uint64, error) {
	t.Helper()
	srv := harness.Start(t, func(g *grpc.Server) {
		interceptorspb.RegisterTelemetryServer(g, &scripted{watch: s.watch})
	})
	f := &interceptors.Follower{Client: interceptorspb.NewTelemetryClient(srv.Conn), Refresh: s.refresh}
	var handled []uint64
	var err error
	harness.Call(t, fmt.Sprintf(`f.Follow(ctx, "summit", %d, handle)`, after), func() {
		err = f.Follow(ctx, "summit", after, func(r *interceptorspb.Reading) { handled = append(handled, r.GetSeq()) })
	})
	return handled, err
}

// TestInterceptors_Follow_RefreshesAndWatchesAgain expects Follow, when its
// stream ends with Unauthenticated, to refresh the token and watch again
// after the last reading it handled, and to return nil when the station
// stops.
func TestInterceptors_Follow_RefreshesAndWatchesAgain(t *testing.T) {
	s := &followScript{attempts: []func(*interceptorspb.WatchRequest, interceptorspb.Telemetry_WatchServer) error{
		sendThen(6, 7, expired),
		sendThen(8, 8, nil),
	}}

	handled, err := s.follow(t, harness.Context(t), 5)
	harness.AssertCode(t, err, codes.OK, "Follow of a station that stopped")
	assert.Equal(t, []uint64{6, 7, 8}, handled, "the readings handled, each once, in order")
	assert.Equal(t, []string{"watch after 5", "refresh", "watch after 7"}, s.history(),
		"what happened: refresh once the token expired, then watch again after the last reading handled")
}

// TestInterceptors_Follow_RefreshDoesNotHelp_ReturnsUnauthenticated expects
// Follow to refresh once when the server keeps answering Unauthenticated,
// and to return the error when the new token did no better.
func TestInterceptors_Follow_RefreshDoesNotHelp_ReturnsUnauthenticated(t *testing.T) {
	s := &followScript{} // every Watch fails with Unauthenticated

	handled, err := s.follow(t, harness.Context(t), 0)
	harness.AssertCode(t, err, codes.Unauthenticated, "Follow when refreshing does not help")
	assert.Empty(t, handled, "the readings handled")
	assert.Equal(t, []string{"watch after 0", "refresh", "watch after 0"}, s.history(),
		"what happened: one refresh, one more try, then give up")
}

// TestInterceptors_Follow_ExpiresAgainAfterProgress_RefreshesAgain expects a
// refresh that helped (a reading arrived since) to count for nothing: every
// token expires in its turn.
func TestInterceptors_Follow_ExpiresAgainAfterProgress_RefreshesAgain(t *testing.T) {
	s := &followScript{attempts: []func(*interceptorspb.WatchRequest, interceptorspb.Telemetry_WatchServer) error{
		sendThen(1, 1, expired),
		sendThen(2, 2, expired),
		sendThen(3, 3, nil),
	}}

	handled, err := s.follow(t, harness.Context(t), 0)
	harness.AssertCode(t, err, codes.OK, "Follow of a station that stopped")
	assert.Equal(t, []uint64{1, 2, 3}, handled, "the readings handled")
	assert.Equal(t, []string{"watch after 0", "refresh", "watch after 1", "refresh", "watch after 2"}, s.history(), "what happened")
}

// TestInterceptors_Follow_OtherErrors_ReturnedAsTheyAre expects any error
// but Unauthenticated to end Follow at once, with no refresh: a new token
// does not make a station exist or a server come back.
func TestInterceptors_Follow_OtherErrors_ReturnedAsTheyAre(t *testing.T) {
	for _, code := range []codes.Code{codes.PermissionDenied, codes.NotFound, codes.Unavailable} {
		s := &followScript{attempts: []func(*interceptorspb.WatchRequest, interceptorspb.Telemetry_WatchServer) error{
			sendThen(1, 1, status.Error(code, "no")),
		}}
		handled, err := s.follow(t, harness.Context(t), 0)
		harness.AssertCode(t, err, code, fmt.Sprintf("Follow of a stream that ended with %s", code))
		assert.Equal(t, []uint64{1}, handled, "the readings handled")
		assert.Equal(t, []string{"watch after 0"}, s.history(), "what happened for %s: no refresh", code)
	}
}

// TestInterceptors_Follow_RefreshFails_ReturnsItsError expects Follow to
// return the refresh's error (wrapped or not) when it cannot get a new token.
func TestInterceptors_Follow_RefreshFails_ReturnsItsError(t *testing.T) {
	down := errors.New("the identity provider is down")
	s := &followScript{refreshErr: down, attempts: []func(*interceptorspb.WatchRequest, interceptorspb.Telemetry_WatchServer) error{
		sendThen(1, 1, expired),
	}}

	_, err := s.follow(t, harness.Context(t), 0)
	assert.ErrorIs(t, err, down, "Follow's error when Refresh fails")
	assert.Equal(t, []string{"watch after 0", "refresh"}, s.history(), "what happened")
}

// TestInterceptors_Follow_CallerCancels_ReturnsAtOnce cancels while the
// stream is open and the server quiet, and expects Follow to return
// ctx.Err() at once, and the stream to end on the server too.
func TestInterceptors_Follow_CallerCancels_ReturnsAtOnce(t *testing.T) {
	got := make(chan uint64, 1)
	srv := harness.Start(t, func(g *grpc.Server) {
		interceptorspb.RegisterTelemetryServer(g, &scripted{watch: func(req *interceptorspb.WatchRequest, stream interceptorspb.Telemetry_WatchServer) error {
			stream.Send(reading(req.GetStation(), 1))
			<-stream.Context().Done()
			return status.FromContextError(stream.Context().Err()).Err()
		}})
	})
	f := &interceptors.Follower{
		Client:  interceptorspb.NewTelemetryClient(srv.Conn),
		Refresh: func(context.Context) error { return errors.New("no refresh in this test") },
	}

	ctx, cancel := context.WithCancel(harness.Context(t))
	done := make(chan error, 1)
	go func() { done <- f.Follow(ctx, "summit", 0, func(r *interceptorspb.Reading) { got <- r.GetSeq() }) }()
	waitWhileRunning(t, got, "it handled reading 1", done, `f.Follow(ctx, "summit", 0, handle)`)
	cancel()

	err := harness.Wait(t, done, "Follow to return once its caller cancelled")
	assert.ErrorIs(t, err, context.Canceled, "Follow's error once its caller cancelled: ctx.Err()")
	srv.HandlerReturned(t, "Watch")
}
