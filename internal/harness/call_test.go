package harness

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/grpc-workbook/streaming/internal/harness/testdata/learner"
)

// asLesson makes testdata/learner the lesson's code for the test's duration,
// as Main makes the package under test in a lesson.
func asLesson(t *testing.T) {
	setPackageUnderTest(t, "github.com/grpc-workbook/streaming/internal/harness/testdata/learner")
}

// setPackageUnderTest sets the package under test ("": to be found from the
// stacks) for the test's duration.
func setPackageUnderTest(t *testing.T, path string) {
	testedPackage.Lock()
	before := testedPackage.path
	testedPackage.path = path
	testedPackage.Unlock()
	t.Cleanup(func() {
		testedPackage.Lock()
		testedPackage.path = before
		testedPackage.Unlock()
	})
}

func TestCall_Returns(t *testing.T) {
	var n int
	ft := newFakeT("TestQuick")
	logs := ft.run(func(tb testing.TB) { Call(tb, "learner.Quick()", func() { n = learner.Quick() }) })
	assert.False(t, ft.Failed(), logs)
	assert.Equal(t, 42, n)
}

func TestCall_StuckOnAMutex_NamesTheLineAndTheMutex(t *testing.T) {
	asLesson(t)
	shortLimits(t, 100*time.Millisecond)
	hub := new(learner.Hub)
	hub.Lock() // held elsewhere; testdata/lesson has one its own goroutine holds
	defer hub.Unlock()
	logs := newFakeT("TestPublish").run(func(tb testing.TB) { Call(tb, "hub.Publish()", hub.Publish) })
	inOrder(t, logs,
		`hub.Publish\(\) did not return within 100ms: it is blocked.`,
		`Where the lesson's code is stuck:`,
		`learner.go:31 in \(\*Hub\).Publish: waiting to lock a mutex that is already locked`,
	)
}

func TestCall_StuckOnAChannelSend_NamesTheLine(t *testing.T) {
	asLesson(t)
	shortLimits(t, 100*time.Millisecond)
	ch := make(chan int)
	defer func() { <-ch }() // let it go
	logs := newFakeT("TestSend").run(func(tb testing.TB) { Call(tb, "learner.Send(ch)", func() { learner.Send(ch) }) })
	inOrder(t, logs,
		`learner.Send\(ch\) did not return within 100ms: it is blocked.`,
		`learner.go:13 in Send: waiting to send on a channel that nobody is receiving from`,
	)
}

func TestCall_Panics_NamesThePanicAndTheLine(t *testing.T) {
	asLesson(t)
	ft := newFakeT("TestClose")
	logs := ft.run(func(tb testing.TB) {
		Call(tb, "learner.CloseTwice(ch)", func() { learner.CloseTwice(make(chan int)) })
		tb.Error("Call went on after a panic")
	})
	assert.True(t, ft.Failed())
	inOrder(t, logs,
		`learner.CloseTwice\(ch\) panicked: close of closed channel`,
		`at learner.go:19 in CloseTwice`,
	)
	assert.NotContains(t, logs, "went on")
}

func TestWait_GivesUp_SaysWhereTheLessonIsStuck(t *testing.T) {
	asLesson(t)
	shortLimits(t, 100*time.Millisecond)
	ch := make(chan int)
	go learner.Send(ch)
	defer func() { <-ch }()
	logs := newFakeT("TestWait").run(func(tb testing.TB) { Wait(tb, make(chan int), "a value") })
	inOrder(t, logs,
		`waited 100ms for a value, and it never happened: something is blocked.`,
		`Where the lesson's code is stuck:`,
		`learner.go:13 in Send: waiting to send on a channel`,
	)
}

func TestBlocked_AfterTimeout_SaysWhatItWaitedFor(t *testing.T) {
	shortLimits(t, 10*time.Millisecond)
	ft := newFakeT("TestSelect")
	start := time.Now()
	logs := ft.run(func(tb testing.TB) {
		select {
		case <-make(chan int):
		case <-Timeout():
			Blocked(tb, "the worker to receive a task")
		}
		tb.Error("Blocked returned")
	})
	assert.Less(t, time.Since(start), time.Second)
	assert.Contains(t, logs, "waited 10ms for the worker to receive a task, and it never happened")
	assert.NotContains(t, logs, "Blocked returned")
}

// Handler events are kept per method and kind: waiting for one method's
// event never drops another's, whatever the order they come in.
func TestHandlerEvents_TwoMethodsInterleaved_NothingLost(t *testing.T) {
	ft := newFakeT("TestEvents")
	logs := ft.run(func(tb testing.TB) {
		release := make(chan struct{})
		srv := startEcho(tb, &echo{
			say: func(_ context.Context, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
				<-release
				return in, nil
			},
			collect: collectAll,
		})
		ctx := Context(tb)
		said := make(chan error, 2)
		for range 2 {
			go func() {
				said <- srv.Conn.Invoke(ctx, "/harness.test.Echo/Say", wrapperspb.String("hi"), new(wrapperspb.StringValue))
			}()
		}
		srv.HandlerStarted(tb, "Say")
		srv.HandlerStarted(tb, "/harness.test.Echo/Say") // a full name takes the same kind of event
		cs := open(tb, srv, ctx, 0)
		require.NoError(tb, cs.CloseSend())
		require.NoError(tb, cs.RecvMsg(new(wrapperspb.StringValue)))
		// Collect started and returned after both Says started; take its
		// return first, then its start: neither is lost.
		assert.NoError(tb, srv.HandlerReturned(tb, "Collect").Err)
		srv.HandlerStarted(tb, "Collect")
		assert.False(tb, srv.HandlerHasStarted("Say"), "both starts of Say were taken")
		assert.False(tb, srv.HandlerHasStarted("Collect"))
		close(release)
		for range 2 {
			require.NoError(tb, <-said)
			assert.Equal(tb, "/harness.test.Echo/Say", srv.HandlerReturned(tb, "Say").Method)
		}
	})
	assert.False(t, ft.Failed(), logs)
}

// A panicking handler fails its test, naming the handler and the lesson's
// line; its client gets codes.Internal, and the server goes on serving.
func TestHandler_Panics_TestFailsClientGetsInternal(t *testing.T) {
	asLesson(t)
	ft := newFakeT("TestPanic")
	var first, second error
	logs := ft.run(func(tb testing.TB) {
		srv := startEcho(tb, &echo{say: func(_ context.Context, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
			if in.GetValue() == "boom" {
				learner.Explode()
			}
			return in, nil
		}})
		first = srv.Conn.Invoke(Context(tb), "/harness.test.Echo/Say", wrapperspb.String("boom"), new(wrapperspb.StringValue))
		assert.Equal(tb, codes.Internal, status.Code(srv.HandlerReturned(tb, "Say").Err), "HandlerReturned sees the status too")
		second = srv.Conn.Invoke(Context(tb), "/harness.test.Echo/Say", wrapperspb.String("fine"), new(wrapperspb.StringValue))
	})
	assert.True(t, ft.Failed())
	assert.Equal(t, codes.Internal, status.Code(first))
	assert.Contains(t, status.Convert(first).Message(), "the handler panicked: assignment to entry in nil map")
	assert.NoError(t, second, "the server survives its handler's panic")
	inOrder(t, logs,
		`the Say handler panicked: assignment to entry in nil map`,
		`at learner.go:38 in Explode`,
		`server +handler returned status codes.Internal \("the handler panicked: assignment to entry in nil map"\)`,
	)
}

func TestEventually_TrueOnceCondHolds_FalseAfterTheLimit(t *testing.T) {
	looks := 0
	assert.True(t, Eventually(func() bool { looks++; return looks == 3 }), "a condition that holds on the third look")
	assert.Equal(t, 3, looks, "looks until it held")

	shortLimits(t, 20*time.Millisecond)
	start := time.Now()
	assert.False(t, Eventually(func() bool { return false }), "a condition that never holds")
	assert.Less(t, time.Since(start), WaitLimit, "Eventually gives up at the (shortened) limit")
}
