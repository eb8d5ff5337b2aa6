// Package harness is the test bench every lesson shares: it starts a service
// in memory, hands the test a connected client, and fails a hung test within
// seconds with a message that says what it was waiting for.
//
// Lesson 01 spells out the bufconn wiring by hand once, so the learner sees how
// it works; every other test calls Start.
package harness

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
)

// FailSafe bounds every wait in a lesson test. Nothing in a correct solution
// takes more than milliseconds, so reaching it means something is blocked.
const FailSafe = 5 * time.Second

// bufSize is the in-memory connection's buffer, as in grpc-go's own tests.
const bufSize = 1 << 20

// Context returns a context for the test's RPCs that ends at the fail-safe
// deadline, or when the test ends, whichever comes first.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), FailSafe)
	t.Cleanup(func() {
		// This runs before the server stops (tests call Context after Start),
		// so the transcript can still say which calls were in progress.
		if t.Failed() {
			freezeAll(t, t.Name()+" ended")
		}
		cancel()
	})
	return ctx
}

// RequireBeforeFailSafe stops the test if ctx, made by Context, has already
// ended. Call it right after waiting for something the code under test should
// cause (a handler returning, a stream ending): if the fail-safe deadline had
// already cancelled the call, that thing happened only because of the
// deadline, not because the code did its job. happened says what the test saw;
// hint, what the code should have done; see, the README section.
func RequireBeforeFailSafe(t testing.TB, ctx context.Context, happened, hint, see string) {
	t.Helper()
	if ctx.Err() != nil {
		t.Fatalf("%s only when the test's fail-safe deadline (%v) cancelled the call: %s; see README.md, %q",
			happened, FailSafe, hint, see)
	}
}

// Server is a gRPC server running in memory for one test, with a client
// connection to it and a record of its handlers starting and returning.
type Server struct {
	// Conn is a client connection to the server; wrap it with the lesson's
	// generated New…Client.
	Conn *grpc.ClientConn

	started  chan string
	returned chan Returned
	rec      *recorder // the transcript of every call, printed if the test fails
}

// Returned describes a handler that has returned.
type Returned struct {
	Method string // the full method name, "/package.Service/Method"
	Err    error  // what the handler returned
}

// Start runs a gRPC server on an in-memory bufconn listener, registers the
// lesson's service on it with register, and connects a client. Everything is
// stopped when the test ends.
//
// Interceptors on both sides record a transcript of every call the test makes
// through Conn: the messages each side sent and received, half-closes, and
// final statuses, in order. If the test fails, the transcript is printed with
// t.Log, followed by the operations still in progress when it failed and which
// side that leaves blocked.
func Start(t testing.TB, register func(*grpc.Server)) *Server {
	t.Helper()
	s := &Server{
		started:  make(chan string, 256),
		returned: make(chan Returned, 256),
		rec:      newRecorder(),
	}
	registerRecorder(t, s.rec)
	t.Cleanup(func() { // registered first, so it runs last: after the server stopped
		if t.Failed() {
			s.rec.freeze(t.Name() + " ended")
			t.Log(s.rec.render())
		}
		unregisterRecorder(t, s.rec)
	})
	lis := bufconn.Listen(bufSize)
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(s.rec.serverUnary, s.observeUnary),
		grpc.ChainStreamInterceptor(s.rec.serverStream, s.observeStream),
	)
	register(srv)
	go srv.Serve(lis) //nolint:errcheck // Serve returns when Stop is called.

	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return lis.DialContext(ctx)
		}),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(s.rec.clientUnary),
		grpc.WithChainStreamInterceptor(s.rec.clientStream),
	)
	if err != nil {
		srv.Stop()
		t.Fatalf("harness: connecting to the in-memory server: %v", err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
	})
	t.Cleanup(func() { // runs first: note what was in progress before anything stops
		if t.Failed() {
			s.rec.freeze(t.Name() + " ended")
		}
	})
	s.Conn = conn
	return s
}

func (s *Server) observeUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	note(s.started, info.FullMethod)
	resp, err := handler(ctx, req)
	note(s.returned, Returned{Method: info.FullMethod, Err: err})
	return resp, err
}

func (s *Server) observeStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	note(s.started, info.FullMethod)
	err := handler(srv, ss)
	note(s.returned, Returned{Method: info.FullMethod, Err: err})
	return err
}

// note records an event without ever blocking a handler: a test that starts
// more than 256 calls and never looks at them simply loses the oldest news.
func note[T any](ch chan T, v T) {
	select {
	case ch <- v:
	default:
	}
}

// HandlerStarted waits until a handler for method (a full name, or just its
// last part such as "AwaitGuest") has started.
func (s *Server) HandlerStarted(t testing.TB, method string) {
	t.Helper()
	for {
		got := Wait(t, s.started, "the server handler for "+method+" to start")
		if matches(got, method) {
			return
		}
	}
}

// HandlerHasStarted reports, without waiting, whether a handler for method
// has started since the last HandlerStarted or HandlerHasStarted saw one.
//
// gRPC may drop a call whose client gave up before the server read the
// request, so a handler can legitimately never run: a test that races a short
// deadline uses this to tell "the handler ran" from "it never got the chance".
func (s *Server) HandlerHasStarted(method string) bool {
	for {
		select {
		case got := <-s.started:
			if matches(got, method) {
				return true
			}
		default:
			return false
		}
	}
}

// HandlerReturned waits until a handler for method has returned and says what
// it returned.
func (s *Server) HandlerReturned(t testing.TB, method string) Returned {
	t.Helper()
	return s.handlerReturned(t, method, Wait[Returned])
}

// HandlerReturnedPromptly is HandlerReturned for a handler that should end
// at once, because its call has just been ended (by the test, or by the code
// under test). It waits at most half the fail-safe; see WaitPromptly.
func (s *Server) HandlerReturnedPromptly(t testing.TB, method string) Returned {
	t.Helper()
	return s.handlerReturned(t, method, WaitPromptly[Returned])
}

func (s *Server) handlerReturned(t testing.TB, method string,
	wait func(testing.TB, <-chan Returned, string) Returned) Returned {
	t.Helper()
	for {
		got := wait(t, s.returned, "the server handler for "+method+" to return")
		if matches(got.Method, method) {
			return got
		}
	}
}

func matches(fullMethod, method string) bool {
	return fullMethod == method || strings.HasSuffix(fullMethod, "/"+method)
}

// waitFailSafe is FailSafe; the harness's own tests shorten it.
var waitFailSafe = FailSafe

// Wait receives one value from ch. If none arrives within FailSafe, it fails
// the test, saying what it waited for.
func Wait[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	return waitUpTo(t, ch, waitFailSafe, what)
}

// WaitPromptly is Wait for something that should follow at once from what
// the test just did (a handler returning after its call was cancelled). It
// gives up after half the fail-safe: a thing that happens only when the
// fail-safe deadline ends the call must never pass for one that happened on time.
func WaitPromptly[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	return waitUpTo(t, ch, waitFailSafe/2, what)
}

func waitUpTo[T any](t testing.TB, ch <-chan T, limit time.Duration, what string) T {
	t.Helper()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		blocked := freezeAll(t, fmt.Sprintf("harness.Wait gave up waiting for %s", what))
		t.Fatalf("waited %v for %s, and it never happened: something is blocked.%s", limit, what, blocked)
		panic("unreachable")
	}
}
