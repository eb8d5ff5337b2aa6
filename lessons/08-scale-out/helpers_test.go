package scaleout_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/internal/harness"
	scaleout "github.com/grpc-workbook/streaming/lessons/08-scale-out"
	"github.com/grpc-workbook/streaming/lessons/08-scale-out/scaleoutpb"
)

// broker is one test's embedded broker, with a connection of the test's own
// to look at the stream and publish to it directly.
type broker struct {
	*scaleout.Broker
	js jetstream.JetStream
}

// startBroker starts the lesson's broker in a temporary directory, keeping
// the latest keep events. When the test ends it closes the broker and checks
// that none of the broker's goroutines, or of any NATS connection, is left.
func startBroker(t *testing.T, keep int64) *broker {
	t.Helper()
	dir := t.TempDir() // removed after the broker has closed: cleanups run last first
	var b *scaleout.Broker
	var err error
	harness.Call(t, fmt.Sprintf("scaleout.StartBroker(dir, %d)", keep), func() { b, err = scaleout.StartBroker(dir, keep) })
	require.NoError(t, err, "StartBroker")
	require.NotNil(t, b, "StartBroker returned no broker and no error")
	t.Cleanup(func() {
		harness.Call(t, "broker.Close()", b.Close)
		if b.Server().Running() {
			t.Errorf("broker.Close() returned, but the broker still runs: Close must Shutdown the server, then WaitForShutdown")
			reported(natsGoroutines())
			return
		}
		if left := natsGoroutinesLeft(); len(left) > 0 {
			t.Errorf("the test has ended and the broker is closed, but %d goroutines of NATS still run (a broker, connection or consumer nobody stopped); the first:\n%s",
				len(left), left[0].Stack)
			reported(left)
		}
	})
	nc, err := b.Connect()
	require.NoError(t, err, "connecting the test to the broker")
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return &broker{Broker: b, js: js}
}

// natsGoroutines are the goroutines of the NATS server and client packages,
// but for those a test has already reported as left running: a later test
// neither waits for them nor takes the blame.
func natsGoroutines() []harness.Goroutine {
	leaked.Lock()
	defer leaked.Unlock()
	var out []harness.Goroutine
	for _, g := range harness.Goroutines() {
		if strings.Contains(g.Stack, "github.com/nats-io/") && !leaked.ids[g.ID] {
			out = append(out, g)
		}
	}
	return out
}

// leaked holds the ids of the NATS goroutines reported as left running.
var leaked = struct {
	sync.Mutex
	ids map[int]bool
}{ids: map[int]bool{}}

// reported notes gs as reported.
func reported(gs []harness.Goroutine) {
	leaked.Lock()
	defer leaked.Unlock()
	for _, g := range gs {
		leaked.ids[g.ID] = true
	}
}

// natsGoroutinesLeft waits until no goroutine of NATS runs, and returns
// those still running after harness.WaitLimit. It has to look more than
// once: a closed connection's reader and the server's two internal receive
// loops end on their own, moments after Close and WaitForShutdown return.
// A broker or connection left open never ends.
func natsGoroutinesLeft() []harness.Goroutine {
	var left []harness.Goroutine
	harness.Eventually(func() bool { left = natsGoroutines(); return len(left) == 0 })
	return left
}

// state is the stream's state as the broker reports it now.
func (b *broker) state(t *testing.T) jetstream.StreamState {
	t.Helper()
	s, err := b.js.Stream(harness.Context(t), scaleout.StreamName)
	require.NoError(t, err, "looking up stream %s: did StartBroker create it?", scaleout.StreamName)
	info, err := s.Info(harness.Context(t))
	require.NoError(t, err)
	return info.State
}

// consumers is how many consumers the stream has now.
func (b *broker) consumers(t *testing.T) int {
	t.Helper()
	return b.state(t).Consumers
}

// publishDirect stores n events straight into the stream, bypassing the
// replicas, with payloads "event 1", "event 2", ... numbered from first.
func (b *broker) publishDirect(t *testing.T, first, n int) {
	t.Helper()
	for i := first; i < first+n; i++ {
		_, err := b.js.Publish(harness.Context(t), scaleout.Subject, []byte(payload(i)))
		require.NoError(t, err, "publishing straight to the broker")
	}
}

func payload(seq int) string { return fmt.Sprintf("event %d", seq) }

// replica is one replica of the Hub service, on its own bufconn listener,
// with its own connection to the broker.
type replica struct {
	name   string
	r      *scaleout.Replica
	nc     *nats.Conn
	gs     *grpc.Server
	srv    *harness.Server
	client scaleoutpb.HubClient
}

// startReplica starts a replica named name. wrap, if given, wraps the
// service before it is registered (to lose a reply, say).
func startReplica(t *testing.T, b *broker, name string, wrap ...func(scaleoutpb.HubServer) scaleoutpb.HubServer) *replica {
	t.Helper()
	nc, err := b.Connect()
	require.NoError(t, err, "connecting replica %s to the broker", name)
	t.Cleanup(nc.Close) // after the server has stopped: cleanups run last first
	r, err := scaleout.NewReplica(name, nc)
	require.NoError(t, err)
	var service scaleoutpb.HubServer = r
	for _, w := range wrap {
		service = w(service)
	}
	rep := &replica{name: name, r: r, nc: nc}
	rep.srv = harness.Start(t, func(s *grpc.Server) {
		rep.gs = s
		scaleoutpb.RegisterHubServer(s, service)
	})
	rep.client = scaleoutpb.NewHubClient(rep.srv.Conn)
	return rep
}

// publish publishes payload with requestID on the replica, and requires OK.
func (r *replica) publish(t *testing.T, requestID, payload string) *scaleoutpb.PublishReply {
	t.Helper()
	reply, err := r.client.Publish(harness.Context(t), &scaleoutpb.PublishRequest{RequestId: requestID, Payload: payload})
	harness.RequireOK(t, err, fmt.Sprintf("Publish(request_id=%q) on replica %s", requestID, r.name))
	return reply
}

// publishN publishes events first .. first+n-1 (payload(i), request id
// "id-i") on the replicas in turn, and requires each to get its number.
func publishN(t *testing.T, first, n int, on ...*replica) {
	t.Helper()
	for i := first; i < first+n; i++ {
		r := on[i%len(on)]
		reply := r.publish(t, fmt.Sprintf("id-%d", i), payload(i))
		require.Equal(t, i, int(reply.GetSeq()), "sequence number of the publish of %q on replica %s", payload(i), r.name)
	}
}

// eventStream is the client's end of a Subscribe call.
type eventStream = grpc.ServerStreamingClient[scaleoutpb.Event]

// subscription is a Subscribe call on one replica.
type subscription struct {
	replica *replica
	stream  eventStream
	cancel  context.CancelFunc
}

// subscribe opens a Subscribe stream on r after after; cancel ends it.
func subscribe(t *testing.T, r *replica, after uint64) *subscription {
	t.Helper()
	ctx, cancel := context.WithCancel(harness.Context(t))
	t.Cleanup(cancel)
	stream, err := r.client.Subscribe(ctx, &scaleoutpb.SubscribeRequest{AfterSeq: after})
	harness.RequireOK(t, err, fmt.Sprintf("Subscribe(after_seq=%d) on replica %s", after, r.name))
	return &subscription{replica: r, stream: stream, cancel: cancel}
}

// recv receives once, giving up after harness.WaitLimit.
func (s *subscription) recv(t *testing.T, what string) (*scaleoutpb.Event, error) {
	t.Helper()
	type result struct {
		ev  *scaleoutpb.Event
		err error
	}
	got := make(chan result, 1)
	go func() {
		ev, err := s.stream.Recv()
		got <- result{ev, err}
	}()
	r := harness.Wait(t, got, what)
	return r.ev, r.err
}

// messages receives n events, requires each to be a Message, and returns
// their sequence numbers, checking each payload.
func (s *subscription) messages(t *testing.T, n int, who string) []int {
	t.Helper()
	var seqs []int
	for len(seqs) < n {
		ev, err := s.recv(t, fmt.Sprintf("message #%d for %s on replica %s (after sequence %v)", len(seqs)+1, who, s.replica.name, seqs))
		harness.RequireOK(t, err, fmt.Sprintf("Recv of message #%d for %s on replica %s", len(seqs)+1, who, s.replica.name))
		m := ev.GetMessage()
		require.NotNilf(t, m, "%s on replica %s: want a Message, got %v", who, s.replica.name, ev)
		require.Equalf(t, payload(int(m.GetSeq())), m.GetPayload(), "%s on replica %s: the payload of sequence %d", who, s.replica.name, m.GetSeq())
		seqs = append(seqs, int(m.GetSeq()))
	}
	return seqs
}

// requireStatus receives once and requires the stream to end with code.
func (s *subscription) requireStatus(t *testing.T, code codes.Code, what string) error {
	t.Helper()
	ev, err := s.recv(t, what)
	require.Nilf(t, ev, "%s: want the stream to end with %v, got an event: %v", what, code, ev)
	harness.RequireCode(t, err, code, what)
	return err
}

// goodbye receives once and requires the event to arrive: a stream that
// ended instead is named as such (io.EOF: the handler returned nil without
// sending Goodbye).
func (s *subscription) goodbye(t *testing.T, who string) *scaleoutpb.Event {
	t.Helper()
	ev, err := s.recv(t, "Goodbye for "+who)
	if errors.Is(err, io.EOF) {
		t.Fatalf("%s on replica %s: the stream ended (io.EOF: the handler returned nil) without a Goodbye; send it before the handler returns", who, s.replica.name)
	}
	harness.RequireOK(t, err, "Recv of Goodbye for "+who+" on replica "+s.replica.name)
	return ev
}

// requireEOF receives once and requires io.EOF: the handler returned nil.
func (s *subscription) requireEOF(t *testing.T, what string) {
	t.Helper()
	ev, err := s.recv(t, what)
	require.Nilf(t, ev, "%s: want io.EOF (the handler returned nil), got another event: %v", what, ev)
	require.Truef(t, errors.Is(err, io.EOF), "%s: want io.EOF (the handler returned nil), got %s", what, harness.Describe(err))
}

// seqRange is first, first+1, ..., last.
func seqRange(first, last int) []int {
	var out []int
	for i := first; i <= last; i++ {
		out = append(out, i)
	}
	return out
}

// fakeStream is a Subscribe stream with no network behind it, for what a
// real stream cannot be made to do on cue: a Send that fails, or one that
// blocks until the test releases it.
type fakeStream struct {
	grpc.ServerStream // nil: any other method panics
	ctx               context.Context
	sendErr           error         // what every Send returns
	hold              chan struct{} // if not nil, each Send waits for a value from it
	sent              chan *scaleoutpb.Event
}

func newFakeStream(ctx context.Context) *fakeStream {
	return &fakeStream{ctx: ctx, sent: make(chan *scaleoutpb.Event, 1024)}
}

func (f *fakeStream) Context() context.Context { return f.ctx }

func (f *fakeStream) Send(ev *scaleoutpb.Event) error {
	f.sent <- ev
	if f.hold != nil {
		select {
		case <-f.hold:
		case <-f.ctx.Done():
			return status.FromContextError(f.ctx.Err()).Err()
		}
	}
	return f.sendErr
}

// loseReplies wraps a Hub service so that each Publish runs and then fails
// with Unavailable, as if the connection broke before the reply arrived.
type loseReplies struct {
	scaleoutpb.HubServer
}

func (l loseReplies) Publish(ctx context.Context, req *scaleoutpb.PublishRequest) (*scaleoutpb.PublishReply, error) {
	if _, err := l.HubServer.Publish(ctx, req); err != nil {
		return nil, err
	}
	return nil, status.Error(codes.Unavailable, "the test lost the reply on its way back")
}

func itoa(n uint64) string { return fmt.Sprint(n) }

// expiringContext is a context whose deadline the test makes pass, at once,
// with expire: no real time has to go by.
type expiringContext struct {
	context.Context // the test's, for its values
	done            chan struct{}
	expired         sync.Once
}

func newExpiringContext(t *testing.T) *expiringContext {
	return &expiringContext{Context: harness.Context(t), done: make(chan struct{})}
}

func (c *expiringContext) Deadline() (time.Time, bool) { return time.Now().Add(time.Hour), true }
func (c *expiringContext) Done() <-chan struct{}       { return c.done }
func (c *expiringContext) expire()                     { c.expired.Do(func() { close(c.done) }) }

func (c *expiringContext) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}
