package pubsub_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/grpc-workbook/streaming/internal/harness"
	pubsub "github.com/grpc-workbook/streaming/lessons/05-pubsub"
	"github.com/grpc-workbook/streaming/lessons/05-pubsub/pubsubpb"
)

// Event constructors, so that tests can spell out the events they expect.

func first(name string, subscribers int) *pubsubpb.Event {
	return &pubsubpb.Event{Kind: &pubsubpb.Event_First{First: &pubsubpb.First{Name: name, Subscribers: uint32(subscribers)}}}
}

func message(seq uint64, payload string) *pubsubpb.Event {
	return &pubsubpb.Event{Kind: &pubsubpb.Event_Message{Message: &pubsubpb.Message{Seq: seq, Payload: payload}}}
}

func timer(tick uint64) *pubsubpb.Event {
	return &pubsubpb.Event{Kind: &pubsubpb.Event_Timer{Timer: &pubsubpb.Timer{Tick: tick}}}
}

func goodbye(dropped uint64) *pubsubpb.Event {
	return &pubsubpb.Event{Kind: &pubsubpb.Event_Goodbye{Goodbye: &pubsubpb.Goodbye{Reason: pubsub.GoodbyeReason, Dropped: dropped}}}
}

// show renders events one per line for failure messages.
func show(events []*pubsubpb.Event) string {
	if len(events) == 0 {
		return "  (none)\n"
	}
	var b strings.Builder
	for _, ev := range events {
		if ev == nil {
			b.WriteString("  nil\n")
			continue
		}
		fmt.Fprintf(&b, "  {%s}\n", prototext.MarshalOptions{}.Format(ev))
	}
	return b.String()
}

// sameEvents reports whether got and want hold equal events in the same order.
func sameEvents(want, got []*pubsubpb.Event) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !proto.Equal(got[i], want[i]) {
			return false
		}
	}
	return true
}

// assertEvents checks a list of events, in order.
func assertEvents(t *testing.T, want, got []*pubsubpb.Event, what string) bool {
	t.Helper()
	if sameEvents(want, got) {
		return true
	}
	t.Errorf("%s: want these events\n%sbut got\n%s", what, show(want), show(got))
	return false
}

// Calls into the hub. Each goes through harness.Call, so a hub method that
// deadlocks (a mutex locked twice, a send on a full queue) or panics (a
// channel closed twice) fails the test within seconds, naming the line of
// hub.go where it is stuck or panicked.

// trySubscribe calls hub.Subscribe(name).
func trySubscribe(t *testing.T, hub *pubsub.Hub, name string) (sub *pubsub.Subscription, err error) {
	t.Helper()
	harness.Call(t, fmt.Sprintf("hub.Subscribe(%q)", name), func() { sub, err = hub.Subscribe(name) })
	return sub, err
}

// subscribe calls hub.Subscribe(name) and stops the test if it fails.
func subscribe(t *testing.T, hub *pubsub.Hub, name string) *pubsub.Subscription {
	t.Helper()
	sub, err := trySubscribe(t, hub, name)
	require.NoError(t, err, "hub.Subscribe(%q)", name)
	require.NotNil(t, sub, "hub.Subscribe(%q) returned no subscription and no error", name)
	return sub
}

// tryPublish calls hub.Publish(payload).
func tryPublish(t *testing.T, hub *pubsub.Hub, payload string) (seq uint64, subscribers int, err error) {
	t.Helper()
	harness.Call(t, fmt.Sprintf("hub.Publish(%q)", payload), func() { seq, subscribers, err = hub.Publish(payload) })
	return seq, subscribers, err
}

// publish calls hub.Publish(payload) and stops the test if it fails.
func publish(t *testing.T, hub *pubsub.Hub, payload string) (seq uint64, subscribers int) {
	t.Helper()
	seq, subscribers, err := tryPublish(t, hub, payload)
	require.NoError(t, err, "hub.Publish(%q)", payload)
	return seq, subscribers
}

// unsubscribe calls hub.Unsubscribe(sub).
func unsubscribe(t *testing.T, hub *pubsub.Hub, sub *pubsub.Subscription) {
	t.Helper()
	harness.Call(t, fmt.Sprintf("hub.Unsubscribe(%s)", sub.Name()), func() { hub.Unsubscribe(sub) })
}

// closeHub calls hub.Close().
func closeHub(t *testing.T, hub *pubsub.Hub) {
	t.Helper()
	harness.Call(t, "hub.Close()", hub.Close)
}

// count calls hub.SubscriberCount(). It is given code, but it locks the
// hub's mutex, which a wrong answer may have left locked.
func count(t *testing.T, hub *pubsub.Hub) (n int, changed <-chan struct{}) {
	t.Helper()
	harness.Call(t, "hub.SubscriberCount()", func() { n, changed = hub.SubscriberCount() })
	return n, changed
}

// queued takes every event waiting in sub's queue without waiting for more,
// and says whether the queue was closed after them. Hub calls are
// synchronous, so once Publish (or Close...) returned, its events are there.
func queued(sub *pubsub.Subscription) (events []*pubsubpb.Event, closed bool) {
	for {
		select {
		case ev, ok := <-sub.Events():
			if !ok {
				return events, true
			}
			events = append(events, ev)
		default:
			return events, false
		}
	}
}

// assertQueue checks what sits in sub's queue right now, and whether the
// queue is closed after it.
func assertQueue(t *testing.T, sub *pubsub.Subscription, want []*pubsubpb.Event, wantClosed bool) {
	t.Helper()
	got, closed := queued(sub)
	assertEvents(t, want, got, fmt.Sprintf("%q's queue", sub.Name()))
	if closed != wantClosed {
		t.Errorf("%q's queue: closed after its events is %v, want %v", sub.Name(), closed, wantClosed)
	}
}

// changedAlready checks that a channel from SubscriberCount was closed.
func changedAlready(t *testing.T, changed <-chan struct{}, after string) {
	t.Helper()
	select {
	case <-changed:
	default:
		t.Errorf("the channel from SubscriberCount was not closed after %s: the count changed, so call h.notifyLocked()", after)
	}
}

// waitForCount waits until hub has n subscribers, woken by the hub's change
// signal: never by polling or sleeping.
func waitForCount(t *testing.T, hub *pubsub.Hub, n int) {
	t.Helper()
	for {
		got, changed := count(t, hub)
		if got == n {
			return
		}
		harness.Wait(t, changed, fmt.Sprintf("the hub's subscriber count to go from %d to %d", got, n))
	}
}

// runTimer runs hub.RunTimer on a ticks channel of its own, sends it n
// ticks, closes the channel and waits for RunTimer to return: after that,
// every Timer event is queued.
func runTimer(t *testing.T, hub *pubsub.Hub, n int) {
	t.Helper()
	harness.See(t)
	ticks := make(chan time.Time) // unbuffered: a send completes when RunTimer takes the tick
	done := make(chan struct{})
	go func() {
		defer close(done)
		hub.RunTimer(ticks)
	}()
	for i := range n {
		select {
		case ticks <- time.Time{}:
		case <-done:
			t.Fatalf("hub.RunTimer returned after %d of %d ticks, with its ticks channel open and the hub too", i, n)
		case <-harness.Timeout():
			harness.Blocked(t, fmt.Sprintf("hub.RunTimer to take tick %d of %d", i+1, n))
		}
	}
	close(ticks)
	harness.Wait(t, done, "hub.RunTimer to return once its ticks channel was closed")
}

// startHub serves a new hub in memory. The hub is closed when the test ends,
// before the server stops, so no Subscribe handler is left waiting.
func startHub(t *testing.T, queueSize int) (*pubsub.Hub, pubsubpb.HubClient, *harness.Server, *grpc.Server) {
	t.Helper()
	hub := pubsub.NewHub(queueSize)
	var gs *grpc.Server
	srv := harness.Start(t, func(s *grpc.Server) {
		gs = s
		pubsubpb.RegisterHubServer(s, pubsub.NewServer(hub))
	})
	// Cleanups run last-in first-out: this one before the server stops.
	t.Cleanup(func() { closeHub(t, hub) })
	return hub, pubsubpb.NewHubClient(srv.Conn), srv, gs
}

// goAll runs fn(0), ..., fn(n-1) on n goroutines at once and waits for them
// all (what says what they do). A call that panics fails the test, naming
// the lesson's line, instead of ending the test binary.
//
// The race detector reports a race once per test process: once per pair of
// call stacks, and once per memory address. Run again in the same process
// (go test -count=3), a racy answer would pass the second time. So goAll calls
// fn one frame deeper on every run, and the tests that use it pass their hub
// to retain, so that no new hub reuses an old one's memory.
func goAll(t *testing.T, n int, what string, fn func(i int)) {
	t.Helper()
	depth := int(goAllRuns.Add(1))
	var wg sync.WaitGroup
	start := make(chan struct{})
	panics := make(chan string, n)
	for i := range n {
		wg.Go(func() {
			defer func() {
				if v := recover(); v != nil {
					panics <- fmt.Sprintf("goroutine %d of %d panicked: %v\n%s", i+1, n, v, lessonLines(debug.Stack()))
				}
			}()
			<-start // released together, so they overlap as much as they can
			atDepth(depth, func() { fn(i) })
		})
	}
	close(start)
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	harness.Wait(t, done, what)
	close(panics)
	for p := range panics {
		t.Error(p)
	}
}

// lessonLines picks the lines of a goroutine stack that are in the lesson's
// own files (not its tests).
func lessonLines(stack []byte) string {
	var lines []string
	for _, line := range strings.Split(string(stack), "\n") {
		line = strings.TrimSpace(line)
		if strings.Contains(line, "/lessons/05-pubsub/") && !strings.Contains(line, "_test.go") && strings.Contains(line, ".go:") {
			lines = append(lines, "  at "+line)
		}
	}
	return strings.Join(lines, "\n")
}

var goAllRuns atomic.Int32

// oneAtATime runs the rest of the test with GOMAXPROCS 1: goroutines take
// turns instead of running at the same instant. The race detector does not
// need them to overlap, since it reports any two accesses to the same memory
// that no lock or channel orders; taking turns makes what it sees the same on
// every run, and keeps a map written without its lock from crashing the test
// binary ("concurrent map writes") before the race detector can report it.
func oneAtATime(t *testing.T) {
	before := runtime.GOMAXPROCS(1)
	t.Cleanup(func() { runtime.GOMAXPROCS(before) })
}

// atDepth calls fn from n frames further down the stack.
func atDepth(n int, fn func()) {
	if n == 0 {
		fn()
		return
	}
	atDepth(n-1, fn)
}

var retained struct {
	sync.Mutex
	hubs []*pubsub.Hub
}

// retain keeps hub's memory for the life of the test process (see goAll).
func retain(hub *pubsub.Hub) *pubsub.Hub {
	retained.Lock()
	defer retained.Unlock()
	retained.hubs = append(retained.hubs, hub)
	return hub
}

// eventStream is the client's end of a Subscribe call.
type eventStream = grpc.ServerStreamingClient[pubsubpb.Event]

// openStream subscribes as name and returns the stream. Nothing has been
// received yet: the server's answer (First, or a status) comes with Recv.
func openStream(t *testing.T, ctx context.Context, client pubsubpb.HubClient, name string) eventStream {
	t.Helper()
	stream, err := client.Subscribe(ctx, &pubsubpb.SubscribeRequest{Name: name})
	harness.RequireOK(t, err, fmt.Sprintf("Subscribe(name=%q)", name))
	return stream
}

// recv receives once. It gives up after harness.WaitLimit, well before the
// call's own deadline, so a server that never sends fails the test saying
// where it is stuck.
func recv(t *testing.T, stream eventStream, what string) (*pubsubpb.Event, error) {
	t.Helper()
	type result struct {
		ev  *pubsubpb.Event
		err error
	}
	got := make(chan result, 1)
	go func() {
		ev, err := stream.Recv()
		got <- result{ev, err}
	}()
	r := harness.Wait(t, got, what)
	return r.ev, r.err
}

// recvEvent receives one event and stops the test on any error.
func recvEvent(t *testing.T, stream eventStream, what string) *pubsubpb.Event {
	t.Helper()
	ev, err := recv(t, stream, what)
	harness.RequireOK(t, err, "Recv of "+what)
	return ev
}

// recvEOF receives once more and checks the stream ended with io.EOF: the
// handler returned nil.
func recvEOF(t *testing.T, stream eventStream, what string) {
	t.Helper()
	ev, err := recv(t, stream, what)
	if ev != nil {
		t.Fatalf("%s: want io.EOF (the handler returned nil), got another event:\n%s", what, show([]*pubsubpb.Event{ev}))
	}
	require.Truef(t, errors.Is(err, io.EOF), "%s: want io.EOF (the handler returned nil), got %s", what, harness.Describe(err))
}

// requireEvent receives one event and checks it is want.
func requireEvent(t *testing.T, stream eventStream, want *pubsubpb.Event, what string) {
	t.Helper()
	got := recvEvent(t, stream, what)
	require.Truef(t, proto.Equal(want, got), "%s: want\n%sgot\n%s", what, show([]*pubsubpb.Event{want}), show([]*pubsubpb.Event{got}))
}

// fakeStream is a Subscribe stream with no network behind it, for what a
// real stream cannot be made to do on cue: a context whose deadline has
// passed, a Send that fails while the context lives on. Only Context and
// Send are implemented; the handler needs nothing else.
type fakeStream struct {
	grpc.ServerStream // nil: any other method panics
	ctx               context.Context
	sendErr           error             // what every Send returns
	sent              []*pubsubpb.Event // every event passed to Send
}

func (f *fakeStream) Context() context.Context { return f.ctx }

func (f *fakeStream) Send(ev *pubsubpb.Event) error {
	f.sent = append(f.sent, ev)
	return f.sendErr
}

// callSubscribe calls the Subscribe handler directly on a fake stream.
func callSubscribe(t *testing.T, server *pubsub.Server, name string, stream *fakeStream, what string) (err error) {
	t.Helper()
	harness.Call(t, fmt.Sprintf("server.Subscribe(name=%q) on a stream %s", name, what), func() {
		err = server.Subscribe(&pubsubpb.SubscribeRequest{Name: name}, stream)
	})
	return err
}

// heldServer wraps the Hub service so that each Subscribe handler that ends
// after hold is set reports what the learner's handler returned, then waits
// for releaseAll before it ends the RPC. While it waits, GracefulStop cannot
// finish, which lets a test see whether Shutdown waits for it.
type heldServer struct {
	pubsubpb.HubServer
	hold     atomic.Bool
	returned chan error // what each held learner's handler returned
	release  chan struct{}
	once     sync.Once
}

func newHeldServer(inner pubsubpb.HubServer) *heldServer {
	return &heldServer{HubServer: inner, returned: make(chan error, 16), release: make(chan struct{})}
}

func (h *heldServer) Subscribe(req *pubsubpb.SubscribeRequest, stream grpc.ServerStreamingServer[pubsubpb.Event]) error {
	err := h.HubServer.Subscribe(req, stream)
	if h.hold.Load() {
		h.returned <- err
		<-h.release
	}
	return err
}

func (h *heldServer) releaseAll() { h.once.Do(func() { close(h.release) }) }

// shutdownFunc is pubsub.Shutdown's name in a goroutine dump.
var shutdownFunc = runtime.FuncForPC(reflect.ValueOf(pubsub.Shutdown).Pointer()).Name()

// waitForShutdownInGracefulStop waits until a goroutine is inside
// (*grpc.Server).GracefulStop called by pubsub.Shutdown itself, and fails the
// test if Shutdown returns first (done closes). Only the goroutine dump shows
// where another goroutine waits, so it looks there every few milliseconds.
func waitForShutdownInGracefulStop(t *testing.T, done <-chan struct{}) {
	t.Helper()
	returned := false
	waiting := harness.Eventually(func() bool {
		select {
		case <-done:
			returned = true
			return true
		default:
			return gracefulStopInShutdown()
		}
	})
	switch {
	case returned:
		t.Fatal("pubsub.Shutdown returned while Subscribe handlers were still running: " +
			"call gs.GracefulStop() in Shutdown itself, which waits for every handler " +
			"(gs.Stop does not wait, and neither does Shutdown if GracefulStop runs on another goroutine)")
	case !waiting:
		harness.Blocked(t, "pubsub.Shutdown to call gs.GracefulStop() and wait in it for the handlers still running")
	}
}

// gracefulStopInShutdown reports whether some goroutine's stack has
// GracefulStop called from Shutdown (not from a goroutine Shutdown started).
func gracefulStopInShutdown() bool {
	for _, g := range harness.Goroutines() {
		if strings.Contains(g.Stack, "\ngoogle.golang.org/grpc.(*Server).GracefulStop(") && strings.Contains(g.Stack, "\n"+shutdownFunc+"(") {
			return true
		}
	}
	return false
}

// serveBare runs a gRPC server on an in-memory connection, as harness.Start
// does but with nothing of the harness between the two sides: no transcript,
// no handler events. The load test and the benchmark use it, where recording
// would cost more than the code under test. A handler that panics still
// fails the test (not the whole test binary), naming the lesson's line.
func serveBare(tb testing.TB, register func(*grpc.Server)) (*grpc.ClientConn, *grpc.Server) {
	tb.Helper()
	var mu sync.Mutex
	ended := false
	recovered := func(method string, err *error) {
		v := recover()
		if v == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if !ended {
			tb.Errorf("the %s handler panicked: %v\n%s", method, v, lessonLines(debug.Stack()))
		}
		*err = status.Errorf(codes.Internal, "the handler panicked: %v", v)
	}
	gs := grpc.NewServer(
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
			defer recovered(info.FullMethod, &err)
			return handler(srv, ss)
		}),
		grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (_ any, err error) {
			defer recovered(info.FullMethod, &err)
			return handler(ctx, req)
		}))
	register(gs)
	lis := bufconn.Listen(1 << 20)
	go gs.Serve(lis) //nolint:errcheck // Serve returns when the server stops.
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(tb, err, "connecting to the in-memory server")
	tb.Cleanup(func() {
		conn.Close()
		gs.Stop()
		mu.Lock()
		ended = true
		mu.Unlock()
	})
	return conn, gs
}
