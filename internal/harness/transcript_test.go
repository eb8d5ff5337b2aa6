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
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/grpc-workbook/streaming/internal/gotest"
)

// echo is a tiny service written by hand (no .proto): a unary Say and a
// client-streaming Collect, both on wrapperspb.StringValue.
type echo struct {
	say     func(context.Context, *wrapperspb.StringValue) (*wrapperspb.StringValue, error)
	collect func(grpc.ServerStream) error
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
			return interceptor(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: "/harness.test.Echo/Say"}, h)
		},
	}},
	Streams: []grpc.StreamDesc{{
		StreamName:    "Collect",
		ClientStreams: true,
		Handler:       func(srv any, ss grpc.ServerStream) error { return srv.(*echo).collect(ss) },
	}},
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

// startEcho starts the echo service through the harness, with a recorder
// that signals every change.
func startEcho(t testing.TB, e *echo) *Server {
	srv := Start(t, func(s *grpc.Server) { s.RegisterService(&echoDesc, e) })
	srv.rec.mu.Lock()
	srv.rec.changed = make(chan struct{}, 1)
	srv.rec.mu.Unlock()
	return srv
}

// waitUntil waits until cond, read under the recorder's lock, holds.
func waitUntil(t *testing.T, r *recorder, what string, cond func() bool) {
	t.Helper()
	timer := time.NewTimer(WaitLimit)
	defer timer.Stop()
	for {
		r.mu.Lock()
		ok := cond()
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.changed:
		case <-timer.C:
			t.Fatalf("waited %v for %s", WaitLimit, what)
		}
	}
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

func TestTranscript_PassingTest_PrintsNothing(t *testing.T) {
	ft := newFakeT("TestPassing")
	logs := ft.run(func(tb testing.TB) {
		srv := startEcho(tb, &echo{say: func(_ context.Context, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
			return in, nil
		}})
		out := new(wrapperspb.StringValue)
		err := srv.Conn.Invoke(Context(tb), "/harness.test.Echo/Say", wrapperspb.String("hi"), out)
		RequireOK(tb, err, "Say")
	})
	assert.False(t, ft.Failed())
	assert.Empty(t, logs)
}

func TestTranscript_FailingTest_ShowsBothSidesOfTheStreamInOrder(t *testing.T) {
	ft := newFakeT("TestStream")
	logs := ft.run(func(tb testing.TB) {
		srv := startEcho(tb, &echo{collect: collectAll})
		ctx := Context(tb)
		cs, err := srv.Conn.NewStream(ctx, &echoDesc.Streams[0], "/harness.test.Echo/Collect")
		require.NoError(t, err)
		require.NoError(t, cs.SendMsg(wrapperspb.String("a")))
		require.NoError(t, cs.SendMsg(wrapperspb.String("b")))
		require.NoError(t, cs.CloseSend())
		out := new(wrapperspb.StringValue)
		require.NoError(t, cs.RecvMsg(out))
		require.Equal(t, "a+b", out.GetValue())
		tb.Errorf("the test fails on purpose")
	})
	inOrder(t, logs,
		`the test fails on purpose`,
		`gRPC transcript`,
		`call 1: /harness.test.Echo/Collect \(client-streaming\)`,
		`client +opened the stream`,
		`client +→ Send #1 +value: ?"a"`,
		`client +→ Send #2 +value: ?"b"`,
		`client +CloseSend`,
		`server +← Recv      io.EOF: the client half-closed`,
		`server +→ Send #1 +value: ?"a\+b"`,
		`server +handler returned: status OK`,
	)
	assert.Regexp(t, `server +← Recv #1 +value: ?"a"`, logs)
	assert.Regexp(t, `client +← Recv #1 +value: ?"a\+b"`, logs)
	assert.NotContains(t, logs, "Still in progress", "nothing was in progress when this test failed")
}

func TestTranscript_ClientNeverClosesSend_WaitSaysWhoIsBlocked(t *testing.T) {
	waitLimit = 20 * time.Millisecond // Wait is bound to give up: nothing sends on never
	defer func() { waitLimit = WaitLimit }()

	ft := newFakeT("TestBlocked")
	logs := ft.run(func(tb testing.TB) {
		srv := startEcho(tb, &echo{collect: collectAll})
		cs, err := srv.Conn.NewStream(Context(tb), &echoDesc.Streams[0], "/harness.test.Echo/Collect")
		require.NoError(t, err)
		require.NoError(t, cs.SendMsg(wrapperspb.String("a")))
		// The mistake: no CloseSend, so the server's second Recv never ends.
		waitUntil(t, srv.rec, "the server to wait in Recv for message #2", func() bool {
			for _, op := range srv.rec.calls[0].ops {
				if op.side == "server" && op.what == "Recv, waiting for message #2" {
					return true
				}
			}
			return false
		})
		never := make(chan struct{})
		Wait(tb, never, "the reply to the upload")
	})
	inOrder(t, logs,
		`waited 20ms for the reply to the upload, and it never happened`,
		`Still in progress:`,
		`server: Recv, waiting for message #2, for`,
		`the server waits in Recv for message #2; the client sent 1 and never called CloseSend`,
		`gRPC transcript`,
		`client +→ Send #1 +value: ?"a"`,
		`server +← Recv #1 +value: ?"a"`,
		// Then, maybe, the server's Recv failing as the test stops the server:
		// Stop does not wait for handlers, so those lines may come too late.
		`in its failure message above`,
	)
}

func TestTranscript_FailSafeDeadline_SaysHandlerIsBlockedElsewhere(t *testing.T) {
	ft := newFakeT("TestDeadline")
	release := make(chan struct{})
	logs := ft.run(func(tb testing.TB) {
		srv := startEcho(tb, &echo{say: func(ctx context.Context, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
			<-release // the mistake: it does not watch ctx.Done()
			return in, nil
		}})
		tb.Cleanup(func() { close(release) })
		result := make(chan error, 1)
		go func() {
			result <- srv.Conn.Invoke(Context(tb), "/harness.test.Echo/Say", wrapperspb.String("hi"), new(wrapperspb.StringValue))
		}()
		srv.HandlerStarted(tb, "Say")
		// As if the call had hit the fail-safe deadline while the handler hangs.
		AssertCode(tb, status.Error(codes.DeadlineExceeded, "context deadline exceeded"), codes.OK, "Say(hi)")
		tb.Cleanup(func() { <-result }) // the call ends when the server stops
	})
	inOrder(t, logs,
		`Say\(hi\): got codes.DeadlineExceeded`,
		`Still in progress:`,
		`client: waiting for the reply, for`,
		`server: handler Say running, for`,
		`the server handler has not returned, yet it is not in Send or Recv`,
		`gRPC transcript`,
		`client +→ request +value: ?"hi"`,
		`server +← request +value: ?"hi"  \(handler starts\)`,
		`---- the test failed here \(Say\(hi\) ended with codes.DeadlineExceeded\)`,
	)
}

func TestRecordersOf_SubtestFindsItsParentsServer(t *testing.T) {
	parent, child := newFakeT("TestParent"), newFakeT("TestParent/case_1")
	r := newRecorder()
	registerRecorder(parent, r)
	defer unregisterRecorder(parent, r)
	assert.Equal(t, []*recorder{r}, recordersOf(child))
	assert.Empty(t, recordersOf(newFakeT("TestParentheses")))
}

func TestRender_LongMessagesAreCut(t *testing.T) {
	got := render(wrapperspb.String(strings.Repeat("x", 500)))
	assert.LessOrEqual(t, len([]rune(got)), maxMessage+1)
	assert.True(t, strings.HasSuffix(got, "…"))
	assert.Equal(t, "{}", render(&wrapperspb.StringValue{}))
}

// TestTranscript_GoTest_PrintsOnlyForFailingTests runs a real `go test` on
// testdata/failing, where one test fails and one passes, as a learner would.
func TestTranscript_GoTest_PrintsOnlyForFailingTests(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test")
	}
	rep, err := gotest.Run(t.Context(), ".", "-count=1", "./testdata/failing")
	require.NoError(t, err)
	out := map[string]string{}
	for _, r := range rep.Tests {
		out[r.Name] = r.Output
	}
	require.Contains(t, out, "TestFailing", "go test output:\n%s", rep.Output)
	inOrder(t, out["TestFailing"],
		`gRPC transcript`,
		`client +→ request +value: ?"Ada"`,
		`server +handler returned status codes.InvalidArgument \("no Ada here"\)`,
		`client +← status +codes.InvalidArgument`,
	)
	assert.NotContains(t, out["TestPassing"], "gRPC transcript")
}
