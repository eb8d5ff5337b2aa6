package harness

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dump is what runtime.Stack(buf, true) prints, cut down: a test waiting in
// Wait, the lesson stuck on a mutex and in Recv, a goroutine of grpc's, and
// the main one, waiting for the tests.
const dump = `goroutine 7 [select]:
github.com/grpc-workbook/streaming/internal/harness.Wait[...](...)
	/work/main/internal/harness/wait.go:64 +0x1d2
example.com/lessons/05-pubsub_test.TestHub_Publish(0xc000102a80)
	/work/main/lessons/05-pubsub/hub_test.go:40 +0x9c
testing.tRunner(0xc000102a80, 0x8d1e38)
	/usr/local/go/src/testing/testing.go:2036 +0xea
created by testing.(*T).Run in goroutine 1
	/usr/local/go/src/testing/testing.go:2101 +0x4c5

goroutine 17 [sync.Mutex.Lock, 2 minutes]:
internal/sync.runtime_SemacquireMutex(0x0?, 0x0?, 0x0?)
	/usr/local/go/src/runtime/sema.go:95 +0x25
internal/sync.(*Mutex).lockSlow(0xc00001c0f8)
	/usr/local/go/src/internal/sync/mutex.go:149 +0x15d
sync.(*Mutex).Lock(...)
	/usr/local/go/src/sync/mutex.go:46
example.com/lessons/05-pubsub.(*Hub).SubscriberCount(0xc00001c0f0)
	/work/main/lessons/05-pubsub/hub.go:61 +0x2d
example.com/lessons/05-pubsub.(*Hub).Publish(0xc00001c0f0, {0x8a1b2c, 0x2})
	/work/main/lessons/05-pubsub/hub.go:44 +0x45
created by example.com/lessons/05-pubsub_test.TestHub_Publish in goroutine 7
	/work/main/lessons/05-pubsub/hub_test.go:38 +0x88

goroutine 23 [select]:
google.golang.org/grpc.(*clientStream).RecvMsg(0xc0001b6000, {0x8b2c40, 0xc0001d8000})
	/root/go/pkg/mod/google.golang.org/grpc@v1.85.0/stream.go:1050 +0x13d
example.com/lessons/05-pubsub.(*Subscriber).next(0xc0001a2000)
	/work/main/lessons/05-pubsub/client.go:30 +0x3e
created by example.com/lessons/05-pubsub.Subscribe in goroutine 7
	/work/main/lessons/05-pubsub/client.go:22 +0x1a5

goroutine 31 [IO wait]:
internal/poll.runtime_pollWait(0x7f2c5c0, 0x72)
	/usr/local/go/src/runtime/netpoll.go:351 +0x85
created by google.golang.org/grpc/internal/transport.newHTTP2Client in goroutine 7
	/root/go/pkg/mod/google.golang.org/grpc@v1.85.0/internal/transport/http2_client.go:399 +0x1b0

goroutine 1 [chan receive]:
testing.(*T).Run(0xc000102380, {0x8b8a5e, 0x10}, 0x8d1e38)
	/usr/local/go/src/testing/testing.go:2109 +0x4e5
testing.runTests.func1(0xc000102380)
	/usr/local/go/src/testing/testing.go:2585 +0x3e
testing.runTests({0x8b35f6, 0xe}, 0xc00010e060, {0xb6d2a0, 0x1, 0x1})
	/usr/local/go/src/testing/testing.go:2583 +0x505
main.main()
	_testmain.go:46 +0x9b
`

func TestParseStacks_ReadsIDsStatesAndFrames(t *testing.T) {
	gs := parseStacks([]byte(dump))
	require.Len(t, gs, 5)
	assert.Equal(t, 7, gs[0].id)
	assert.Equal(t, "select", gs[0].state)
	assert.Equal(t, "sync.Mutex.Lock", gs[1].state, "the wait's length is dropped")
	assert.Equal(t, frame{fn: "sync.(*Mutex).Lock", file: "/usr/local/go/src/sync/mutex.go", line: 46}, gs[1].frames[2], "an inlined frame has no offset")
	assert.Equal(t, frame{fn: "example.com/lessons/05-pubsub.(*Hub).SubscriberCount", file: "/work/main/lessons/05-pubsub/hub.go", line: 61}, gs[1].frames[3])
	assert.Len(t, gs[1].frames, 5, "the created-by line is not a frame")
	assert.True(t, gs[0].runsTest())
	assert.False(t, gs[1].runsTest())
}

func TestLessonPackage_FromTheTestFunctionsFrame(t *testing.T) {
	setPackageUnderTest(t, "")
	assert.Equal(t, "example.com/lessons/05-pubsub", lessonPackage(parseStacks([]byte(dump))),
		"the test's package, without _test, whatever the file paths are (go test -overlay or -trimpath change them)")
	assert.Equal(t, "example.com/lessons/05-pubsub", packageOf("example.com/lessons/05-pubsub.(*Hub).Publish"))
	assert.Equal(t, "example.com/lessons/05-pubsub_test", packageOf("example.com/lessons/05-pubsub_test.TestX.func1"))
}

func TestWhere_NamesTheInnermostLessonLineAndWhatItWaitsOn(t *testing.T) {
	const pkg = "example.com/lessons/05-pubsub"
	setPackageUnderTest(t, pkg)
	gs := parseStacks([]byte(dump))
	assert.Empty(t, gs[0].where(pkg), "test code is not the lesson's")
	assert.Equal(t, "hub.go:61 in (*Hub).SubscriberCount: waiting to lock a mutex that is already locked, by another goroutine or by this one (Go's mutexes are not re-entrant)",
		gs[1].where(pkg))
	assert.Equal(t, "client.go:30 in (*Subscriber).next: waiting in Recv for the other side's next message (or its end)", gs[2].where(pkg))
	assert.Empty(t, gs[3].where(pkg))

	report := stuckReport(gs, 23)
	assert.Equal(t, "Where the lesson's code is stuck:\n  client.go:30 in (*Subscriber).next: waiting in Recv for the other side's next message (or its end)\n"+
		"  hub.go:61 in (*Hub).SubscriberCount: waiting to lock a mutex that is already locked, by another goroutine or by this one (Go's mutexes are not re-entrant)",
		report, "the goroutine asked for comes first")

	twice := stuckReport(append(gs, gs[1]), 0)
	assert.Contains(t, twice, "(Go's mutexes are not re-entrant) (2 goroutines)", "two goroutines stuck at one place: listed once, counted")
	assert.Equal(t, 1, strings.Count(twice, "hub.go:61"), "hub.go:61 listed once")
}

func TestWaitsOn(t *testing.T) {
	for _, tc := range []struct{ state, callee, want string }{
		{"chan send", "", "waiting to send on a channel that nobody is receiving from"},
		{"chan receive", "", "waiting to receive from a channel that nobody sends on or closes"},
		{"chan receive (nil chan)", "", "using a nil channel, which blocks forever (was it ever made with make?)"},
		{"select", "", "in a select, waiting for one of its cases to be ready"},
		{"select (no cases)", "", "in select {}, which blocks forever"},
		{"sync.RWMutex.RLock", "", "waiting to lock a mutex that is already locked, by another goroutine or by this one (Go's mutexes are not re-entrant)"},
		{"sync.WaitGroup.Wait", "", "in WaitGroup.Wait: a goroutine it waits for has not called Done"},
		{"runnable", "", "running: a loop that never ends or never blocks?"},
		{"select", "google.golang.org/grpc.(*serverStream).SendMsg", "blocked in Send: flow control holds a sender whose reader has stopped reading"},
		{"select", "example.com/x/pb.(*hubSubscribeClient).Recv", "waiting in Recv for the other side's next message (or its end)"},
		{"IO wait", "", "waiting (IO wait)"},
	} {
		assert.Equal(t, tc.want, waitsOn(tc.state, tc.callee), "%s after %s", tc.state, tc.callee)
	}
}

// The watchdog leaves alone a test that waits for its subtests or its turn.
func TestWaitsForOtherTests(t *testing.T) {
	parent := parseStacks([]byte(dump))[4:]
	require.Len(t, parent, 1)
	assert.True(t, parent[0].waitsForOtherTests())
	stuck := parseStacks([]byte(dump))[0]
	assert.False(t, stuck.waitsForOtherTests())
	assert.Equal(t, stuck.place(), parseStacks([]byte(dump))[0].place(), "the same place twice: stuck")
	assert.NotEqual(t, stuck.place(), parent[0].place())
}

func TestGoroutines_FindsOneBlockedInAChannelSend(t *testing.T) {
	unblock := make(chan struct{})
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		unblock <- struct{}{}
	}()
	t.Cleanup(func() { <-unblock; <-sent })

	found := func() (Goroutine, bool) {
		for _, g := range Goroutines() {
			if g.State == "chan send" && strings.Contains(g.Stack, "TestGoroutines_FindsOneBlockedInAChannelSend.func1") {
				return g, true
			}
		}
		return Goroutine{}, false
	}
	var g Goroutine
	require.Eventually(t, func() bool { var ok bool; g, ok = found(); return ok }, WaitLimit, time.Millisecond,
		"the goroutine sending on unblock, in state chan send")
	assert.Positive(t, g.ID)
	assert.True(t, strings.HasPrefix(g.Stack, fmt.Sprintf("goroutine %d [chan send", g.ID)), "the entry starts with its header: got %q", g.Stack)
}
