package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/grpc-workbook/streaming/internal/harness"
	resilience "github.com/grpc-workbook/streaming/lessons/06-resilience"
	"github.com/grpc-workbook/streaming/lessons/06-resilience/resiliencepb"
)

// This file holds the fault injection the lesson's tests share: a server
// that can be stopped and started again behind the same client connection,
// connections that can be cut mid-call, calls that fail on purpose. Nothing
// here is lesson-specific but the service it registers, so it could move to
// internal/harness.

// feed is a Feed server (the lesson's Server over one Log) that a test can
// stop, start again, and break. Every incarnation serves the same Log, as a
// restarted process would read the same disk. Client connections made with
// Conn outlive the incarnations: their dialer always dials the server of the
// moment, and is refused while there is none.
type feed struct {
	t   testing.TB
	log *resilience.Log

	mu        sync.Mutex
	lis       *bufconn.Listener // nil while the server is down
	srv       *grpc.Server
	conns     []net.Conn              // client ends of the connections made, for Cut
	fail      map[string][]codes.Code // method → codes for its next calls to fail with
	loseReply map[string]int          // method → how many next replies to lose
	attempts  map[string]int          // method → calls that reached the server
	refused   chan struct{}           // one value (if there is room) per refused dial
	ended     bool                    // the test has ended: nothing may report to it
}

// startFeed serves log, with the server up. Everything stops when the test
// ends.
func startFeed(t testing.TB, log *resilience.Log) *feed {
	t.Helper()
	f := &feed{
		t: t, log: log,
		fail: map[string][]codes.Code{}, loseReply: map[string]int{}, attempts: map[string]int{},
		refused: make(chan struct{}, 1024),
	}
	t.Cleanup(func() { // registered first, so it runs after every connection closed
		f.Stop()
		f.mu.Lock()
		f.ended = true
		f.mu.Unlock()
	})
	f.Start()
	return f
}

// Start brings a new server up over the same Log.
func (f *feed) Start() {
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(f.unary), grpc.ChainStreamInterceptor(f.stream))
	resiliencepb.RegisterFeedServer(srv, resilience.NewServer(f.log))
	lis := bufconn.Listen(1 << 20)
	go srv.Serve(lis) //nolint:errcheck // Serve returns when Stop is called.
	f.mu.Lock()
	f.lis, f.srv = lis, srv
	f.mu.Unlock()
}

// Stop takes the server down as a crash would: its listener closes, every
// connection drops, every call in progress fails on the client with
// codes.Unavailable. Until Start, dials are refused.
func (f *feed) Stop() {
	f.mu.Lock()
	srv := f.srv
	f.lis, f.srv = nil, nil
	f.mu.Unlock()
	for len(f.refused) > 0 { // WaitRefused waits for a refusal from now on
		<-f.refused
	}
	if srv != nil {
		srv.Stop()
	}
}

// Restart is Stop, then Start.
func (f *feed) Restart() {
	f.Stop()
	f.Start()
}

// Cut closes every client connection made so far, as a network failure
// would, while the server stays up: calls in progress on them fail with
// codes.Unavailable, and the client connects again for the next call.
func (f *feed) Cut() {
	f.mu.Lock()
	conns := f.conns
	f.conns = nil
	f.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// FailNext makes the next n calls of method (its short name, "Publish")
// fail with code before they reach the lesson's handler, as a server that
// is starting up or overloaded would answer.
func (f *feed) FailNext(method string, n int, code codes.Code) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.fail[method] = append(f.fail[method], code)
	}
}

// LoseNextReply lets the next call of the unary method run to completion on
// the server, then cuts every connection before its reply is sent: the work
// is done, and the client sees codes.Unavailable.
func (f *feed) LoseNextReply(method string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loseReply[method]++
}

// Attempts is how many calls of method reached the server, failed ones
// included.
func (f *feed) Attempts(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts[method]
}

// WaitRefused waits until a client has tried to connect while the server was
// down, and been refused.
func (f *feed) WaitRefused(t testing.TB) {
	t.Helper()
	harness.Wait(t, f.refused, "a client to try to connect while the server is down")
}

// Conn returns a client connection whose every connection goes to the
// server of the moment. It reconnects within milliseconds of the server
// coming back: gRPC's own backoff waits a second or more after a refused
// dial (see the README), and no test waits real seconds. opts come first, so
// these settings win.
func (f *feed) Conn(t testing.TB, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	opts = append(opts,
		grpc.WithContextDialer(f.dial),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Millisecond},
			MinConnectTimeout: time.Second,
		}),
	)
	conn, err := grpc.NewClient("passthrough:///feed", opts...)
	if err != nil {
		t.Fatalf("grpc.NewClient with the options under test: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// waitConnectionLost waits until conn has seen its connection close. A
// call started before then may go out on the closing connection, and one
// that was sent fails with Unavailable ("error reading from server: EOF")
// whatever WaitForReady says: gRPC retries on its own only a call no
// server has seen (csAttempt.shouldRetry in grpc-go's stream.go).
func waitConnectionLost(t testing.TB, conn *grpc.ClientConn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), harness.WaitLimit)
	defer cancel()
	for conn.GetState() == connectivity.Ready {
		if !conn.WaitForStateChange(ctx, connectivity.Ready) {
			harness.Blocked(t, "the client to see its connection close once the server stopped")
		}
	}
}

func (f *feed) dial(ctx context.Context, _ string) (net.Conn, error) {
	f.mu.Lock()
	lis := f.lis
	f.mu.Unlock()
	var c net.Conn
	err := errors.New("connection refused: the server is down")
	if lis != nil {
		c, err = lis.DialContext(ctx) // fails too if the server stopped meanwhile
	}
	if err != nil {
		select {
		case f.refused <- struct{}{}:
		default:
		}
		return nil, err
	}
	f.mu.Lock()
	f.conns = append(f.conns, c)
	f.mu.Unlock()
	return c, nil
}

// arrive counts a call of method and says with which code to fail it, if
// any, and whether to lose its reply.
func (f *feed) arrive(fullMethod string) (fail codes.Code, lose bool) {
	method := fullMethod[strings.LastIndexByte(fullMethod, '/')+1:]
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts[method]++
	if queued := f.fail[method]; len(queued) > 0 {
		f.fail[method] = queued[1:]
		return queued[0], false
	}
	if f.loseReply[method] > 0 {
		f.loseReply[method]--
		return codes.OK, true
	}
	return codes.OK, false
}

func (f *feed) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	code, lose := f.arrive(info.FullMethod)
	if code != codes.OK {
		return nil, status.Errorf(code, "injected by the test: %s fails with %s", info.FullMethod, code)
	}
	defer f.recoverHandler(info.FullMethod, &err)
	resp, err = handler(ctx, req)
	if lose {
		f.Cut() // the reply goes out on a closed connection, and is lost
	}
	return resp, err
}

func (f *feed) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	if code, _ := f.arrive(info.FullMethod); code != codes.OK {
		return status.Errorf(code, "injected by the test: %s fails with %s", info.FullMethod, code)
	}
	defer f.recoverHandler(info.FullMethod, &err)
	return handler(srv, ss)
}

// recoverHandler turns a panic in the lesson's handler into the test's
// failure, naming the line, and codes.Internal for the client.
func (f *feed) recoverHandler(method string, err *error) {
	v := recover()
	if v == nil {
		return
	}
	f.mu.Lock()
	if !f.ended {
		f.t.Errorf("the %s handler panicked: %v%s", method, v, lessonLine(debug.Stack()))
	}
	f.mu.Unlock()
	*err = status.Errorf(codes.Internal, "the handler panicked: %v", v)
}

// lessonLine finds the first line of the lesson's own code in a stack.
func lessonLine(stack []byte) string {
	for _, line := range strings.Split(string(stack), "\n") {
		line = strings.TrimSpace(line)
		if strings.Contains(line, "/06-resilience/") && !strings.Contains(line, "_test.go") && strings.Contains(line, ".go:") {
			return "\n  at " + line
		}
	}
	return ""
}

// step is one Subscribe call of a script: the events it sends, then how
// the stream ends.
type step struct {
	events []int
	end    error // nil: the stream ends with OK, and the client's Recv gets io.EOF
}

// script is a fake Feed for testing Follow on its own, without the
// lesson's Server: each Subscribe call plays the next step and records the
// after_seq it asked for. Once the steps run out, a call sends nothing and
// stays open until the client leaves.
type script struct {
	resiliencepb.UnimplementedFeedServer

	mu    sync.Mutex
	steps []step
	asked []int
}

func (s *script) Subscribe(req *resiliencepb.SubscribeRequest, stream grpc.ServerStreamingServer[resiliencepb.Event]) error {
	s.mu.Lock()
	s.asked = append(s.asked, int(req.GetAfterSeq()))
	if len(s.steps) == 0 {
		s.mu.Unlock()
		<-stream.Context().Done()
		return status.FromContextError(stream.Context().Err()).Err()
	}
	next := s.steps[0]
	s.steps = s.steps[1:]
	s.mu.Unlock()
	for _, seq := range next.events {
		if err := stream.Send(event(uint64(seq))); err != nil {
			return err
		}
	}
	return next.end
}

// Asked returns the after_seq of every Subscribe call so far.
func (s *script) Asked() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.asked)
}

// startScript serves a script with the harness (so a failing test prints
// the transcript of every call) and returns a Follower of it whose waits
// are decided by clock. Its Backoff has Base 100 ms, Cap 300 ms, and a
// Rand that always says 0.5: waits of 50, 100, 150, 150, ... ms.
func startScript(t *testing.T, clock *fakeClock, steps ...step) (*script, *harness.Server, *resilience.Follower) {
	t.Helper()
	s := &script{steps: steps}
	srv := harness.Start(t, func(g *grpc.Server) { resiliencepb.RegisterFeedServer(g, s) })
	f := &resilience.Follower{
		Client:  resiliencepb.NewFeedClient(srv.Conn),
		Backoff: resilience.Backoff{Base: 100 * time.Millisecond, Cap: 300 * time.Millisecond, Rand: func() float64 { return 0.5 }},
		After:   clock.After,
	}
	return s, srv, f
}

func event(seq uint64) *resiliencepb.Event {
	return &resiliencepb.Event{Seq: seq, Payload: fmt.Sprintf("event %d", seq)}
}

// handled records the events a Follow handler saw, and lets a test wait
// until it has seen a number of them.
type handled struct {
	mu      sync.Mutex
	events  []*resiliencepb.Event
	changed chan struct{} // closed, and replaced, at every event
}

func newHandled() *handled { return &handled{changed: make(chan struct{})} }

// handle is the handler to give Follow.
func (h *handled) handle(ev *resiliencepb.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, ev)
	close(h.changed)
	h.changed = make(chan struct{})
}

// Seqs returns the sequence numbers seen so far, in the order seen.
func (h *handled) Seqs() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	seqs := make([]int, len(h.events))
	for i, ev := range h.events {
		seqs[i] = int(ev.GetSeq())
	}
	return seqs
}

func (h *handled) count() (int, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.events), h.changed
}

// sawSeq reports whether the handler has seen event seq.
func (h *handled) sawSeq(seq int) (bool, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.ContainsFunc(h.events, func(ev *resiliencepb.Event) bool { return int(ev.GetSeq()) == seq }), h.changed
}

// WaitFor waits until the handler has seen at least n events. It fails
// the test if run's Follow returns first.
func (h *handled) WaitFor(t testing.TB, n int, run *following) {
	t.Helper()
	h.wait(t, run, fmt.Sprintf("event number %d", n), func() (bool, <-chan struct{}) {
		got, changed := h.count()
		return got >= n, changed
	})
}

// WaitForSeq waits until the handler has seen the event numbered seq,
// however many others it saw. It fails the test if run's Follow returns
// first.
func (h *handled) WaitForSeq(t testing.TB, seq int, run *following) {
	t.Helper()
	h.wait(t, run, fmt.Sprintf("the event numbered %d", seq), func() (bool, <-chan struct{}) { return h.sawSeq(seq) })
}

func (h *handled) wait(t testing.TB, run *following, what string, done func() (bool, <-chan struct{})) {
	t.Helper()
	for {
		ok, changed := done()
		if ok {
			return
		}
		got, _ := h.count()
		select {
		case <-changed:
		case res := <-run.done:
			run.done <- res
			t.Fatalf("Follow returned %s (panic: %q) after its handler saw %d events, waiting for %s",
				harness.Describe(res.err), res.panicked, got, what)
		case <-harness.Timeout():
			harness.Blocked(t, fmt.Sprintf("Follow's handler to see %s (it has seen %d events)", what, got))
		}
	}
}

// waitPast is for a goroutine that is not the test's: it waits until the
// handler has seen an event numbered seq or more, and reports false if ctx
// ends first.
func (h *handled) waitPast(ctx context.Context, seq int) bool {
	for {
		h.mu.Lock()
		past := len(h.events) > 0 && int(h.events[len(h.events)-1].GetSeq()) >= seq
		changed := h.changed
		h.mu.Unlock()
		if past || seq <= 0 {
			return true
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return false
		}
	}
}

// following is a Follow call running on its own goroutine.
type following struct {
	cancel context.CancelFunc
	done   chan followResult
}

type followResult struct {
	err      error
	panicked string // set if Follow panicked: the value and the line
}

// startFollow runs f.Follow(ctx, after, handle) on its own goroutine, with
// ctx derived from the test's. When the test ends, ctx is cancelled and the
// call given WaitLimit to return.
func startFollow(t testing.TB, f *resilience.Follower, after uint64, handle func(*resiliencepb.Event)) *following {
	t.Helper()
	ctx, cancel := context.WithCancel(harness.Context(t))
	run := &following{cancel: cancel, done: make(chan followResult, 1)}
	go func() {
		returned := false
		defer func() {
			if !returned {
				v := recover()
				run.done <- followResult{panicked: fmt.Sprintf("%v%s", v, lessonLine(debug.Stack()))}
			}
		}()
		err := f.Follow(ctx, after, handle)
		returned = true
		run.done <- followResult{err: err}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-run.done:
		case <-time.After(harness.WaitLimit):
			t.Errorf("Follow did not return within %v of its ctx ending", harness.WaitLimit)
		}
	})
	return run
}

// Returned waits for Follow to return and gives its error.
func (run *following) Returned(t testing.TB, what string) error {
	t.Helper()
	res := harness.Wait(t, run.done, what)
	if res.panicked != "" {
		t.Fatalf("Follow panicked: %s", res.panicked)
	}
	run.done <- res // for the cleanup
	return res.err
}

// Running fails the test if Follow has returned.
func (run *following) Running(t testing.TB, what string) {
	t.Helper()
	select {
	case res := <-run.done:
		run.done <- res
		t.Fatalf("Follow returned %s (panic: %q) %s; it should still be following", harness.Describe(res.err), res.panicked, what)
	default:
	}
}

// fakeClock is an After whose waits end only when the test says so, like
// harness.FakeClock, and that notices when Follow returns instead of
// waiting.
type fakeClock struct {
	mu      sync.Mutex
	timers  []chan time.Time
	created chan time.Duration // one value per After call
}

func newFakeClock() *fakeClock { return &fakeClock{created: make(chan time.Duration, 1024)} }

// After has time.After's signature; the channel receives when the test
// fires it.
func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.mu.Lock()
	c.timers = append(c.timers, ch)
	c.mu.Unlock()
	c.created <- d
	return ch
}

// Next waits until run's Follow starts its next wait, and returns how long
// it asked for. It fails the test if Follow returns instead.
func (c *fakeClock) Next(t testing.TB, run *following) time.Duration {
	t.Helper()
	select {
	case d := <-c.created:
		return d
	case res := <-run.done:
		run.done <- res
		if res.panicked != "" {
			t.Fatalf("Follow panicked: %s", res.panicked)
		}
		t.Fatalf("Follow returned %s where it should have waited with f.After before subscribing again", harness.Describe(res.err))
	case <-harness.Timeout():
		harness.Blocked(t, "Follow to wait with f.After before subscribing again")
	}
	return 0
}

// Returned waits for run's Follow to return and gives its error. It fails
// the test if Follow starts a wait first: it was to stop, not retry.
func (c *fakeClock) Returned(t testing.TB, run *following, what string) error {
	t.Helper()
	select {
	case d := <-c.created:
		t.Fatalf("Follow started a wait of %v to try again, where it should have returned (%s)", d, what)
	case res := <-run.done:
		run.done <- res // for Returned, below
	case <-harness.Timeout(): // Returned, below, says what is blocked
	}
	return run.Returned(t, what)
}

// Fire ends the latest wait.
func (c *fakeClock) Fire() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timers[len(c.timers)-1] <- time.Time{}
}

// FireAll ends every wait, so that a Follow still waiting can go on.
func (c *fakeClock) FireAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ch := range c.timers {
		select {
		case ch <- time.Time{}:
		default:
		}
	}
}

// instantWaits is an After that records every wait it is asked for and
// ends it at once, for tests that check what Follow delivers, not when.
type instantWaits struct {
	mu    sync.Mutex
	waits []time.Duration
	added chan struct{}
}

func newInstantWaits() *instantWaits { return &instantWaits{added: make(chan struct{}, 1<<16)} }

func (w *instantWaits) After(d time.Duration) <-chan time.Time {
	w.mu.Lock()
	w.waits = append(w.waits, d)
	w.mu.Unlock()
	select {
	case w.added <- struct{}{}:
	default:
	}
	ch := make(chan time.Time, 1)
	ch <- time.Time{}
	return ch
}

// Waits returns the waits asked for so far.
func (w *instantWaits) Waits() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.waits)
}

// noLeaks fails the test if a goroutine it started is still running once
// the test's cleanups (servers stopped, connections closed) have run. Call
// it first, so that its check runs last.
func noLeaks(t *testing.T) {
	harness.See(t) // first, so that the README pointer comes after the leak report
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		if err := goleak.Find(before); err != nil {
			t.Errorf("goroutines started by this test are still running after it ended: something did not stop.\n%v", err)
		}
	})
}
