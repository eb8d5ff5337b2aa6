package harness

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// echo is a tiny service written by hand (no .proto), on
// wrapperspb.StringValue: a unary Say, a client-streaming Collect, a
// server-streaming Spray and a bidi-streaming Chat. A test sets the handlers
// it calls.
type echo struct {
	say                  func(context.Context, *wrapperspb.StringValue) (*wrapperspb.StringValue, error)
	collect, spray, chat func(grpc.ServerStream) error
}

var echoDesc = grpc.ServiceDesc{
	ServiceName: "harness.test.Echo",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Say",
		Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.StringValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			h := func(ctx context.Context, req any) (any, error) {
				return srv.(*echo).say(ctx, req.(*wrapperspb.StringValue))
			}
			if interceptor == nil { // a server with no interceptor: Start on a benchmark
				return h(ctx, in)
			}
			return interceptor(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: "/harness.test.Echo/Say"}, h)
		},
	}},
	Streams: []grpc.StreamDesc{
		{StreamName: "Collect", ClientStreams: true, Handler: func(srv any, ss grpc.ServerStream) error { return srv.(*echo).collect(ss) }},
		{StreamName: "Spray", ServerStreams: true, Handler: func(srv any, ss grpc.ServerStream) error { return srv.(*echo).spray(ss) }},
		{StreamName: "Chat", ClientStreams: true, ServerStreams: true, Handler: func(srv any, ss grpc.ServerStream) error { return srv.(*echo).chat(ss) }},
	},
}

// open opens echo's stream number i (0 Collect, 1 Spray, 2 Chat).
func open(t testing.TB, srv *Server, ctx context.Context, i int) grpc.ClientStream {
	d := &echoDesc.Streams[i]
	cs, err := srv.Conn.NewStream(ctx, d, "/harness.test.Echo/"+d.StreamName)
	require.NoError(t, err)
	return cs
}

// collectAll is a correct Collect: it joins what it receives and answers at io.EOF.
func collectAll(ss grpc.ServerStream) error {
	var got []string
	for {
		in := new(wrapperspb.StringValue)
		err := ss.RecvMsg(in)
		if err == io.EOF {
			return ss.SendMsg(wrapperspb.String(strings.Join(got, "+")))
		}
		if err != nil {
			return err
		}
		got = append(got, in.GetValue())
	}
}

// fakeT stands in for *testing.T so that a test here can fail on purpose and
// look at what the harness printed.
type fakeT struct {
	testing.TB // not used: every method the harness calls is below
	name       string
	ctx        context.Context
	cancel     context.CancelFunc

	mu       sync.Mutex
	failed   bool
	logs     strings.Builder
	cleanups []func()
}

func newFakeT(name string) *fakeT {
	ctx, cancel := context.WithCancel(context.Background())
	return &fakeT{name: name, ctx: ctx, cancel: cancel}
}

func (f *fakeT) Helper()                  {}
func (f *fakeT) Name() string             { return f.name }
func (f *fakeT) Context() context.Context { return f.ctx }
func (f *fakeT) Cleanup(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleanups = append(f.cleanups, fn)
}
func (f *fakeT) Failed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}
func (f *fakeT) Log(args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fmt.Fprintln(&f.logs, args...)
}
func (f *fakeT) Logf(format string, args ...any) { f.Log(fmt.Sprintf(format, args...)) }
func (f *fakeT) Error(args ...any) {
	f.mu.Lock()
	f.failed = true
	f.mu.Unlock()
	f.Log(args...)
}
func (f *fakeT) Errorf(format string, args ...any) { f.Error(fmt.Sprintf(format, args...)) }
func (f *fakeT) Fatal(args ...any)                 { f.Error(args...); runtime.Goexit() }
func (f *fakeT) FailNow()                          { f.Error("FailNow"); runtime.Goexit() }
func (f *fakeT) Fatalf(format string, args ...any) { f.Errorf(format, args...); runtime.Goexit() }

// run runs body as a test would: on its own goroutine (so Fatal can end it),
// then cancels the test's context and runs the cleanups, last first. It
// returns everything logged.
func (f *fakeT) run(body func(t testing.TB)) string {
	done := make(chan struct{})
	go func() {
		defer close(done)
		body(f)
	}()
	<-done
	f.cancel()
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.logs.String()
}

// startEcho starts the echo service through the harness.
func startEcho(t testing.TB, e *echo) *Server {
	return Start(t, func(s *grpc.Server) { s.RegisterService(&echoDesc, e) })
}

// waitUntil waits until cond, read under the recorder's lock, holds. It
// polls: the recorder has no hook for its own tests.
func waitUntil(t *testing.T, r *recorder, what string, cond func() bool) {
	t.Helper()
	held := func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return cond()
	}
	if !Eventually(held) {
		t.Fatalf("waited %v for %s", WaitLimit, what)
	}
}

// shortLimits makes every wait give up after d, for the test's duration.
func shortLimits(t *testing.T, d time.Duration) {
	waitLimit = d
	t.Cleanup(func() { waitLimit = WaitLimit })
}

// inOrder checks that each of the patterns matches text, each after the last.
func inOrder(t *testing.T, text string, patterns ...string) {
	t.Helper()
	rest := text
	for _, p := range patterns {
		loc := regexp.MustCompile(p).FindStringIndex(rest)
		if !assert.NotNil(t, loc, "want %q (after the previous lines) in:\n%s", p, text) {
			return
		}
		rest = rest[loc[1]:]
	}
}
