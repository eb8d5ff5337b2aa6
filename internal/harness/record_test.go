package harness

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

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
		cs := open(tb, srv, Context(tb), 0)
		require.NoError(tb, cs.SendMsg(wrapperspb.String("a")))
		require.NoError(tb, cs.SendMsg(wrapperspb.String("b")))
		require.NoError(tb, cs.CloseSend())
		out := new(wrapperspb.StringValue)
		require.NoError(tb, cs.RecvMsg(out))
		require.Equal(tb, "a+b", out.GetValue())
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
		`This test checks|Re-read the lesson's README.md`,
	)
	assert.Regexp(t, `server +← Recv #1 +value: ?"a"`, logs)
	assert.Regexp(t, `client +← Recv #1 +value: ?"a\+b"`, logs)
	assert.NotContains(t, logs, "Still in progress", "nothing was in progress when this test failed")
}

// stuckUpload opens Collect, sends one message and no CloseSend, and returns
// once the server waits in Recv for a second message that never comes.
func stuckUpload(t *testing.T, tb testing.TB) *Server {
	srv := startEcho(tb, &echo{collect: collectAll})
	cs := open(tb, srv, Context(tb), 0)
	require.NoError(tb, cs.SendMsg(wrapperspb.String("a")))
	waitUntil(t, srv.rec, "the server to wait in Recv for message #2", func() bool {
		return len(srv.rec.calls) == 1 && srv.rec.calls[0].serverRecv == 1 && srv.rec.calls[0].running(opServerRecv)
	})
	return srv
}

func TestTranscript_ClientNeverClosesSend_WaitSaysWhoIsBlocked(t *testing.T) {
	shortLimits(t, 300*time.Millisecond) // above settle, so that the explainer concludes
	ft := newFakeT("TestBlocked")
	logs := ft.run(func(tb testing.TB) {
		stuckUpload(t, tb) // the mistake: no CloseSend, so the server's second Recv never ends
		never := make(chan struct{})
		Wait(tb, never, "the reply to the upload")
	})
	inOrder(t, logs,
		`waited 300ms for the reply to the upload, and it never happened`,
		`Still in progress:`,
		`server: Recv, waiting for message #2, for`,
		`Seen so far:`,
		`client: sent 1, received 0; has not called CloseSend; its context is live`,
		`server: received 1, sent 0; the handler has not returned; its context is live`,
		`What that means:`,
		`The server's Recv returns io.EOF only after the client calls CloseSend \(CloseAndRecv does both\), and the client has not\.`,
		`gRPC transcript`,
		`client +→ Send #1 +value: ?"a"`,
		`server +← Recv #1 +value: ?"a"`,
		`---- the test failed here \(the test gave up waiting for the reply to the upload\)`,
		`in its failure message above`,
	)
}

func TestTranscript_HandlerHangs_StatusCheckReportsTheCallInProgress(t *testing.T) {
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
		tb.Cleanup(func() { <-result }) // the call ends when the test does
	})
	inOrder(t, logs,
		`Say\(hi\): got codes.DeadlineExceeded`,
		`Still in progress:`,
		`client: waiting for the reply, for`,
		`server: handler Say running, for`,
		`Seen so far:`,
		`client: sent 1, received 0; its context is live`,
		`server: received 1, sent 0; the handler has not returned; its context is live`,
		`gRPC transcript`,
		`client +→ request +value: ?"hi"`,
		`server +← request +value: ?"hi"  \(handler starts\)`,
		`---- the test failed here \(Say\(hi\) ended with codes.DeadlineExceeded\)`,
		`client +its context ended with the test`,
	)
	assert.NotContains(t, logs, "What that means", "a call a few microseconds old proves nothing")
}

// A test that fails with t.Errorf, not through the harness, is frozen when it
// ends. Its calls are torn down as it ends (its context, then the server),
// yet the report says what was waiting before that.
func TestTranscript_TestEndsWithCallsInProgress_ReportShowsThemAsTheyWere(t *testing.T) {
	ft := newFakeT("TestEnds")
	logs := ft.run(func(tb testing.TB) {
		srv := stuckUpload(t, tb)
		tb.Cleanup(func() { // runs first, as the test ends: let the teardown finish before the report
			waitUntil(t, srv.rec, "the handler to return", func() bool { return srv.rec.calls[0].returned })
		})
		tb.Errorf("the test fails on purpose")
	})
	inOrder(t, logs,
		`the test fails on purpose`,
		`gRPC transcript`,
		`server +← Recv #1`,
		`client +its context ended with the test`,
		`When the test failed \(TestEnds ended\):`,
		`Still in progress:`,
		`server: Recv, waiting for message #2, for [0-9.]+m?s, until its call's context ended with the test`,
		`Seen so far:`,
	)
}

// The transcript keeps the first and last keptEvents/2 events, copied as
// they were sent, and only counts the ones between.
func TestTranscript_LongStream_KeepsFirstAndLastEventsAsSent(t *testing.T) {
	const sent = 1000
	ft := newFakeT("TestLong")
	logs := ft.run(func(tb testing.TB) {
		srv := startEcho(tb, &echo{collect: collectAll})
		cs := open(tb, srv, Context(tb), 0)
		msg := new(wrapperspb.StringValue)
		for i := 1; i <= sent; i++ {
			msg.Value = fmt.Sprint("m", i) // the same message, changed after each Send
			require.NoError(tb, cs.SendMsg(msg))
		}
		require.NoError(tb, cs.CloseSend())
		require.NoError(tb, cs.RecvMsg(new(wrapperspb.StringValue)))
		tb.Errorf("the test fails on purpose")
	})
	inOrder(t, logs,
		`client +→ Send #1 +value: ?"m1"`,
		`client +→ Send #2 +value: ?"m2"`,
		`events not shown`,
		`server +← Recv #1000 +value: ?"m1000"`,
		`server +handler returned: status OK`,
	)
	lines := strings.Count(logs, "\n  client ") + strings.Count(logs, "\n  server ")
	assert.Equal(t, keptEvents, lines, "the transcript prints the events it kept, and no more")
}

// stringer counts how often it is formatted.
type stringer struct{ formatted *int }

func (s stringer) String() string { *s.formatted++; return "a message" }

func TestRecorder_FormatsMessagesOnlyWhenPrinted(t *testing.T) {
	var formatted int
	r := &recorder{}
	c := r.add(&call{method: "/x.Y/Z", shape: shape{serverStreams: true}})
	for i := 0; i < 1000; i++ {
		r.record(c, event{server: true, kind: evSent, n: i + 1, msg: stringer{&formatted}}, nil)
	}
	assert.Zero(t, formatted, "recording formats nothing")
	out := r.render("")
	assert.Equal(t, keptEvents, formatted, "printing formats the kept events only")
	assert.Contains(t, out, fmt.Sprintf("... %d events not shown ...", 1000-keptEvents))
	assert.Contains(t, out, "→ Send #1000   a message")
}

func TestVisibleRuns_SubtestFindsItsParentsServer(t *testing.T) {
	parent, child, other := newFakeT("TestParent"), newFakeT("TestParent/case_1"), newFakeT("TestParentheses")
	r := &recorder{}
	track(parent).addRecorder(r)
	track(child)
	track(other)
	defer func() {
		parent.run(func(testing.TB) {})
		child.run(func(testing.TB) {})
		other.run(func(testing.TB) {})
	}()
	assert.Equal(t, []*recorder{r}, recordersOf(child))
	assert.Equal(t, []*recorder{r}, recordersOf(parent))
	assert.Empty(t, recordersOf(other))
	assert.Len(t, visibleRuns(child), 2, "the child's run, then its parent's")
	assert.Equal(t, "TestParent/case_1", visibleRuns(child)[0].name)
}

func TestRender_LongMessagesAreCut(t *testing.T) {
	got := render(wrapperspb.String(strings.Repeat("x", 500)))
	assert.LessOrEqual(t, len([]rune(got)), maxMessage+1)
	assert.True(t, strings.HasSuffix(got, "…"))
	assert.Equal(t, "{}", render(&wrapperspb.StringValue{}))
}

// Both sides' interceptors run on a benchmark only if Start installed them:
// it does not, so the benchmark measures the lesson's code alone.
func TestStart_OnABenchmark_InstallsNothing(t *testing.T) {
	res := testing.Benchmark(func(b *testing.B) {
		srv := Start(b, func(s *grpc.Server) {
			s.RegisterService(&echoDesc, &echo{say: func(_ context.Context, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error) { return in, nil }})
		})
		if srv.rec != nil {
			b.Fatal("Start on a benchmark made a recorder")
		}
		// One call per run, whatever b.N: testing.Benchmark then stops soon.
		if err := srv.Conn.Invoke(b.Context(), "/harness.test.Echo/Say", wrapperspb.String("hi"), new(wrapperspb.StringValue)); err != nil {
			b.Fatal(err)
		}
	})
	assert.NotZero(t, res.N)
}

func TestLimits_EveryWaitEndsBeforeTheFailSafe(t *testing.T) {
	assert.Less(t, WaitLimit+failSafeMargin, CallTimeout, "a wait from a fresh Context gives up before its fail-safe")
	assert.Less(t, CallTimeout, testLimit, "the watchdog comes after every other way to fail")
	assert.Less(t, settle, WaitLimit, "a report at WaitLimit can conclude")

	// A wait late in a test gives up before the fail-safe of the calls it
	// made with Context.
	ft := newFakeT("TestLate")
	ft.run(func(tb testing.TB) {
		r := &recorder{}
		run := track(tb)
		run.addRecorder(r)
		c := r.add(&call{method: "/x.Y/Z", client: true, ctx: context.Background(), owner: run, failSafe: time.Now().Add(time.Second)})
		assert.InDelta(t, time.Second-failSafeMargin, limitFor(tb), float64(50*time.Millisecond))
		c.clientDone = true
		assert.Equal(t, waitLimit, limitFor(tb), "a call that has ended has no fail-safe to fear")
	})
}

// BenchmarkRecording measures what recording costs a test: one client Send
// and the server's Recv of it per op, and one unary call per op, each with
// the recorder (Start on a test) and without (Start on a benchmark).
//
//	go test -run '^$' -bench Recording ./internal/harness/
func BenchmarkRecording(b *testing.B) {
	count := func(ss grpc.ServerStream) error {
		n := 0
		for ; ss.RecvMsg(new(wrapperspb.StringValue)) == nil; n++ {
		}
		return ss.SendMsg(wrapperspb.String(fmt.Sprint(n)))
	}
	say := func(_ context.Context, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error) { return in, nil }
	stream := func(tb testing.TB, b *testing.B) {
		srv := startEcho(tb, &echo{collect: count})
		cs := open(tb, srv, tb.Context(), 0)
		msg := wrapperspb.String("a message of some forty bytes, as a test sends")
		b.ResetTimer()
		for range b.N {
			if err := cs.SendMsg(msg); err != nil {
				b.Fatal(err)
			}
		}
		require.NoError(tb, cs.CloseSend())
		require.NoError(tb, cs.RecvMsg(new(wrapperspb.StringValue)))
		b.StopTimer()
	}
	unary := func(tb testing.TB, b *testing.B) {
		srv := startEcho(tb, &echo{say: say})
		b.ResetTimer()
		for range b.N {
			if err := srv.Conn.Invoke(tb.Context(), "/harness.test.Echo/Say", wrapperspb.String("hi"), new(wrapperspb.StringValue)); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
	}
	for _, bench := range []struct {
		name string
		body func(testing.TB, *testing.B)
	}{{"stream", stream}, {"unary", unary}} {
		b.Run(bench.name+"/bare", func(b *testing.B) { bench.body(b, b) })
		b.Run(bench.name+"/recorded", func(b *testing.B) {
			if logs := newFakeT("BenchmarkRecording").run(func(tb testing.TB) { bench.body(tb, b) }); logs != "" {
				b.Fatal(logs)
			}
		})
	}
}

// The same explainer, fed by the recorder from a real call: a server-streaming
// handler that goes on sending after its client cancelled.
func TestReport_Live_HandlerIgnoresFailedSends(t *testing.T) {
	shortLimits(t, 600*time.Millisecond)
	stop := make(chan struct{})
	defer close(stop)
	ft := newFakeT("TestFirehose")
	logs := ft.run(func(tb testing.TB) {
		srv := startEcho(tb, &echo{spray: func(ss grpc.ServerStream) error {
			if err := ss.RecvMsg(new(wrapperspb.StringValue)); err != nil {
				return err
			}
			for {
				select {
				case <-stop:
					return nil
				case <-time.After(time.Millisecond):
				}
				ss.SendMsg(wrapperspb.String("line")) //nolint:errcheck // the mistake
			}
		}})
		ctx, cancel := context.WithCancel(Context(tb))
		cs := open(tb, srv, ctx, 1)
		require.NoError(tb, cs.SendMsg(wrapperspb.String("go")))
		require.NoError(tb, cs.CloseSend())
		require.NoError(tb, cs.RecvMsg(new(wrapperspb.StringValue)))
		cancel()
		Wait(tb, make(chan struct{}), "Spray to return")
	})
	inOrder(t, logs,
		`waited 600ms for Spray to return`,
		`Still in progress:`,
		`server: handler Spray running`,
		`Seen so far:`,
		`client: sent 1, received 1; its context was cancelled [0-9.]+m?s ago`,
		`server: received 1, sent [0-9]+; Send failed [0-9]+ times, the last with codes.Canceled .*; the handler has not returned; its context ended [0-9.]+m?s ago`,
		`What that means:`,
		`The handler's context ended [0-9.]+m?s ago and its Send has failed [0-9]+ times, yet it still runs: it goes on after Send fails.`,
		`gRPC transcript`,
		`client +its context was cancelled`,
		`server +its context was cancelled`,
		`server +  Send #[0-9]+ failed: codes.Canceled`,
	)
}
