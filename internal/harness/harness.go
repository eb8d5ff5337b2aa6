// Package harness is the test bench every lesson shares: it starts a service
// in memory, hands the test a connected client, and fails a hung test within
// seconds with a message that says what it was waiting for.
//
// Lesson 01 spells out the bufconn wiring by hand once, so the learner sees how
// it works; every other test calls Start.
package harness

import (
	"context"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
)

// bufSize is the in-memory connection's buffer, as in grpc-go's own tests.
const bufSize = 1 << 20

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
	ended   bool // the test has ended: a panicking handler can no longer fail it
}

type handlerEvent struct {
	returned bool // false: the handler started
	taken    bool // a HandlerStarted or HandlerReturned has had it
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
// t.Log, after what was still in progress when it failed. On a benchmark
// Start installs no interceptor at all: it measures the lesson's code, not
// the harness.
func Start(t testing.TB, register func(*grpc.Server)) *Server {
	t.Helper()
	s := &Server{t: t, changed: make(chan struct{})}
	lis := bufconn.Listen(bufSize)
	dial := []grpc.DialOption{
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return lis.DialContext(ctx)
		}),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	}
	var opts []grpc.ServerOption
	if _, benchmark := t.(*testing.B); !benchmark {
		run := track(t) // before the cleanup below, so that its own runs after it
		s.rec = &recorder{test: run}
		run.addRecorder(s.rec)
		opts = append(opts,
			grpc.ChainUnaryInterceptor(s.rec.serverUnary, s.handleUnary),
			grpc.ChainStreamInterceptor(s.rec.serverStream, s.handleStream))
		dial = append(dial,
			grpc.WithChainUnaryInterceptor(s.rec.clientUnary),
			grpc.WithChainStreamInterceptor(s.rec.clientStream))
	}
	srv := grpc.NewServer(opts...)
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
	s.Conn = conn
	return s
}

func (s *Server) handleUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	err = s.handle(info.FullMethod, func() (err error) {
		resp, err = handler(ctx, req)
		return err
	})
	return resp, err
}

func (s *Server) handleStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return s.handle(info.FullMethod, func() error { return handler(srv, ss) })
}

// handle runs a handler, noting when it starts and returns for
// HandlerStarted and HandlerReturned. A panic in it becomes the test's
// failure, naming the handler and the lesson's line, and codes.Internal for
// the client: without this a panicking handler ends the test binary with a
// bare stack trace, and no later test runs.
func (s *Server) handle(method string, handler func() error) (err error) {
	s.note(handlerEvent{Returned: Returned{Method: method}})
	defer func() {
		if v := recover(); v != nil {
			where := at(panicLocation(debug.Stack()))
			s.mu.Lock()
			if !s.ended {
				s.t.Errorf("the %s handler panicked: %v%s", shortMethod(method), v, where)
			}
			s.mu.Unlock()
			err = status.Errorf(codes.Internal, "the handler panicked: %v", v)
		}
		s.note(handlerEvent{returned: true, Returned: Returned{Method: method, Err: err}})
	}()
	return handler()
}

// note records a handler event and wakes every waiter.
func (s *Server) note(e handlerEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
	close(s.changed)
	s.changed = make(chan struct{})
}

// take takes the oldest event of its kind for method (a full name, or just
// its last part) that nobody has taken yet. Events of other kinds and
// methods stay where they are, so waits on two methods lose nothing.
func (s *Server) take(returned bool, method string) (Returned, bool, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.events {
		if e := &s.events[i]; !e.taken && e.returned == returned && matches(e.Method, method) {
			e.taken = true
			return e.Returned, true, nil
		}
	}
	return Returned{}, false, s.changed
}

// waitFor waits for the next event of its kind for method.
func (s *Server) waitFor(t testing.TB, returned bool, method, what string) Returned {
	t.Helper()
	var r Returned
	until(t, what, func() (bool, <-chan struct{}) {
		var ok bool
		var changed <-chan struct{}
		r, ok, changed = s.take(returned, method)
		return ok, changed
	})
	return r
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
	_, ok, _ := s.take(false, method)
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
