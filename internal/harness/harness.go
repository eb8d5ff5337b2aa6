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
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
)

// bufSize is the in-memory connection's buffer, as in grpc-go's own tests.
const bufSize = 1 << 20

// Context returns a context for the test's RPCs that ends at CallTimeout, or
// when the test ends, whichever comes first.
func Context(t testing.TB) context.Context {
	track(t)
	ctx, cancel := context.WithTimeout(t.Context(), CallTimeout)
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

// Server is a gRPC server running in memory for one test, with a client
// connection to it and a record of its handlers starting and returning.
type Server struct {
	// Conn is a client connection to the server; wrap it with the lesson's
	// generated New…Client.
	Conn *grpc.ClientConn

	t   testing.TB
	rec *recorder // the transcript of every call, printed if the test fails

	mu      sync.Mutex
	changed chan struct{} // closed, and replaced, at every handler event
	events  []handlerEvent
	cursor  map[string]int // per "started Method" or "returned Method": events already taken
	ended   bool           // the test has ended: a panicking handler can no longer fail it
}

type handlerEvent struct {
	returned bool // false: the handler started
	Returned
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
	track(t)
	s := &Server{t: t, rec: newRecorder(), changed: make(chan struct{}), cursor: map[string]int{}}
	registerRecorder(t, s.rec)
	t.Cleanup(func() { // registered first, so it runs last: after the server stopped
		if t.Failed() {
			s.rec.freeze(t.Name() + " ended")
			t.Log(s.rec.render())
		}
		unregisterRecorder(t, s.rec)
	})
	lis := bufconn.Listen(bufSize)
	unary := []grpc.UnaryServerInterceptor{s.rec.serverUnary, s.observeUnary, s.recoverUnary}
	stream := []grpc.StreamServerInterceptor{s.rec.serverStream, s.observeStream, s.recoverStream}
	dial := []grpc.DialOption{
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return lis.DialContext(ctx)
		}),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(s.rec.clientUnary),
		grpc.WithChainStreamInterceptor(s.rec.clientStream),
	}
	if _, benchmark := t.(*testing.B); benchmark {
		// A benchmark measures the lesson's code, not the harness: no
		// transcript, no handler events, nothing between the two sides.
		unary, stream, dial = nil, nil, dial[:2]
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(unary...), grpc.ChainStreamInterceptor(stream...))
	register(srv)
	go srv.Serve(lis) //nolint:errcheck // Serve returns when Stop is called.

	conn, err := grpc.NewClient("passthrough:///bufnet", dial...)
	if err != nil {
		srv.Stop()
		t.Fatalf("harness: connecting to the in-memory server: %v", err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
		s.mu.Lock()
		s.ended = true
		s.mu.Unlock()
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
	s.note(handlerEvent{Returned: Returned{Method: info.FullMethod}})
	resp, err := handler(ctx, req)
	s.note(handlerEvent{returned: true, Returned: Returned{Method: info.FullMethod, Err: err}})
	return resp, err
}

func (s *Server) observeStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	s.note(handlerEvent{Returned: Returned{Method: info.FullMethod}})
	err := handler(srv, ss)
	s.note(handlerEvent{returned: true, Returned: Returned{Method: info.FullMethod, Err: err}})
	return err
}

// recoverUnary and recoverStream turn a panic in a handler into that test's
// failure, naming the handler and the lesson's line, and into codes.Internal
// for the client. Without them a panicking handler ends the test binary with
// a bare stack trace, and no later test runs.
func (s *Server) recoverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer s.recoverHandler(info.FullMethod, &err)
	return handler(ctx, req)
}

func (s *Server) recoverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer s.recoverHandler(info.FullMethod, &err)
	return handler(srv, ss)
}

func (s *Server) recoverHandler(method string, err *error) {
	v := recover()
	if v == nil {
		return
	}
	where := at(panicLocation(debug.Stack()))
	s.mu.Lock()
	if !s.ended {
		s.t.Errorf("the %s handler panicked: %v%s", shortMethod(method), v, where)
	}
	s.mu.Unlock()
	*err = status.Errorf(codes.Internal, "the handler panicked: %v", v)
}

// note records a handler event and wakes every waiter.
func (s *Server) note(e handlerEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
	close(s.changed)
	s.changed = make(chan struct{})
}

// next takes the next event of its kind for method (a full name, or just its
// last part), if there is one not taken yet.
func (s *Server) next(returned bool, method string) (Returned, bool, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := fmt.Sprint(returned, " ", method)
	for i := s.cursor[key]; i < len(s.events); i++ {
		if e := s.events[i]; e.returned == returned && matches(e.Method, method) {
			s.cursor[key] = i + 1
			return e.Returned, true, nil
		}
	}
	s.cursor[key] = len(s.events)
	return Returned{}, false, s.changed
}

// waitFor waits up to WaitLimit for the next event of its kind for method.
func (s *Server) waitFor(t testing.TB, returned bool, method, what string) Returned {
	t.Helper()
	timer := time.NewTimer(waitLimit)
	defer timer.Stop()
	for {
		r, ok, changed := s.next(returned, method)
		if ok {
			return r
		}
		select {
		case <-changed:
		case <-timer.C:
			Blocked(t, what)
		}
	}
}

// HandlerStarted waits until a handler for method (a full name, or just its
// last part such as "AwaitGuest") has started; each call takes one start.
func (s *Server) HandlerStarted(t testing.TB, method string) {
	t.Helper()
	s.waitFor(t, false, method, "the server handler for "+method+" to start")
}

// HandlerHasStarted reports, without waiting, whether a handler for method
// has started that HandlerStarted or HandlerHasStarted has not yet taken.
//
// gRPC may drop a call whose client gave up before the server read the
// request, so a handler can legitimately never run: a test that races a short
// deadline uses this to tell "the handler ran" from "it never got the chance".
func (s *Server) HandlerHasStarted(method string) bool {
	_, ok, _ := s.next(false, method)
	return ok
}

// HandlerReturned waits until a handler for method has returned and says what
// it returned; each call takes one return.
func (s *Server) HandlerReturned(t testing.TB, method string) Returned {
	t.Helper()
	return s.waitFor(t, true, method, "the server handler for "+method+" to return")
}

func matches(fullMethod, method string) bool {
	return fullMethod == method || strings.HasSuffix(fullMethod, "/"+method)
}

// Wait receives one value from ch. If none arrives within WaitLimit, it fails
// the test, saying what it waited for and what is blocked.
func Wait[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	track(t)
	timer := time.NewTimer(waitLimit)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		Blocked(t, what)
		panic("unreachable")
	}
}

// Blocked fails the test because what it waited for did not happen within
// WaitLimit: it says what, where the lesson's code is stuck, and which side of
// each call in progress is blocked.
func Blocked(t testing.TB, what string) {
	t.Helper()
	track(t)
	report := stuckReport(allGoroutines(), 0)
	if report != "" {
		report = "\n" + report
	}
	blocked := freezeAll(t, "the test gave up waiting for "+what)
	t.Fatalf("waited %v for %s, and it never happened: something is blocked.%s%s", waitLimit, what, report, blocked)
}
