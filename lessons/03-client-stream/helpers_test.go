package clientstream_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/grpc-workbook/streaming/internal/harness"
	clientstream "github.com/grpc-workbook/streaming/lessons/03-client-stream"
	"github.com/grpc-workbook/streaming/lessons/03-client-stream/sensorpb"
)

// hub is your Server (Tasks 1, 2 and 5), served in memory, with a window on
// its handlers: the test learns each time a handler calls Recv (by then it
// has finished with every message before) and what each handler returned.
type hub struct {
	*clientstream.Server
	client sensorpb.HubClient
	srv    *harness.Server

	recvs    chan int   // before each Recv: how many messages the handler has had so far
	returned chan error // what each handler returned

	// hold, if not nil, makes each Ack handler wait after Recv has given it
	// its first acknowledgement, until the test closes hold; held receives
	// a value as each one starts to wait.
	hold chan struct{}
	held chan struct{}
	// depth, if not 0, is how many frames deeper Ack calls your Ack (see
	// raceRun).
	depth int
}

func startHub(t *testing.T) *hub {
	t.Helper()
	h := &hub{
		Server:   clientstream.NewServer(),
		recvs:    make(chan int, 1024),
		returned: make(chan error, 64),
		held:     make(chan struct{}, 64),
	}
	h.srv = harness.Start(t, func(s *grpc.Server) { sensorpb.RegisterHubServer(s, h) })
	h.client = sensorpb.NewHubClient(h.srv.Conn)
	return h
}

func (h *hub) Upload(stream sensorpb.Hub_UploadServer) error {
	return h.note(h.Server.Upload(&watchedStream[sensorpb.Reading, sensorpb.Summary]{ClientStreamingServer: stream, hub: h}))
}

func (h *hub) Ack(stream sensorpb.Hub_AckServer) error {
	var err error
	atDepth(h.depth, func() {
		err = h.Server.Ack(&watchedStream[sensorpb.Acknowledgement, emptypb.Empty]{ClientStreamingServer: stream, hub: h, hold: h.hold})
	})
	return h.note(err)
}

// The race detector reports a race once per test process: once per pair of
// call stacks, and once per memory address. Run again in the same process
// (go test -count=3), a lock-free record would pass the second time. So a
// test that looks for races calls raceRun: its hub calls your Ack one frame
// deeper than on the run before, and its Server is kept for the life of the
// process, so no later hub reuses its memory.
func (h *hub) raceRun() {
	h.depth = int(raceRuns.Add(1))
	retained.Lock()
	defer retained.Unlock()
	retained.servers = append(retained.servers, h.Server)
}

var (
	raceRuns atomic.Int32
	retained struct {
		sync.Mutex
		servers []*clientstream.Server
	}
)

// atDepth calls fn from n frames further down the stack.
func atDepth(n int, fn func()) {
	if n == 0 {
		fn()
		return
	}
	atDepth(n-1, fn)
}

func (h *hub) note(err error) error {
	select { // never block the handler: a test that does not look loses nothing
	case h.returned <- err:
	default:
	}
	return err
}

// watchedStream tells the test, before each Recv, how many messages the
// handler has already received, and holds the first message if asked to.
type watchedStream[Req, Res any] struct {
	grpc.ClientStreamingServer[Req, Res]
	hub      *hub
	hold     chan struct{}
	received int
}

func (s *watchedStream[Req, Res]) Recv() (*Req, error) {
	select {
	case s.hub.recvs <- s.received:
	default:
	}
	m, err := s.ClientStreamingServer.Recv()
	if err != nil {
		return m, err
	}
	s.received++
	if s.hold != nil && s.received == 1 {
		s.hub.held <- struct{}{}
		select {
		case <-s.hold:
		case <-s.Context().Done():
		}
	}
	return m, err
}

// waitUntilRead waits until the method's handler asks for message n+1: it
// is done with the first n.
func (h *hub) waitUntilRead(t *testing.T, method string, n int) {
	t.Helper()
	timeout := harness.Timeout()
	for {
		select {
		case got := <-h.recvs:
			if got == n {
				return
			}
		case err := <-h.returned:
			t.Fatalf("the %s handler returned %s before it had read the %d messages sent: read with Recv until it "+
				"returns io.EOF (the client is done) or an error (the call broke)", method, harness.Describe(err), n)
		case <-timeout:
			harness.Blocked(t, fmt.Sprintf("the %s handler to read %d messages and ask for the next", method, n))
		}
	}
}

// waitHeld waits until n Ack handlers are held with their first
// acknowledgement (see hub.hold).
func (h *hub) waitHeld(t *testing.T, n int) {
	t.Helper()
	timeout := harness.Timeout()
	for range n {
		select {
		case <-h.held:
		case err := <-h.returned:
			t.Fatalf("an Ack handler returned %s before it received the acknowledgements sent: read with Recv until "+
				"it returns io.EOF (the station is done) or an error (the call broke)", harness.Describe(err))
		case <-timeout:
			harness.Blocked(t, fmt.Sprintf("%d Ack handlers to receive their first acknowledgement", n))
		}
	}
}

// brokenStream is a fake server stream to hand to your handler directly: its
// Recv gives msgs, then fails with err, as a real Recv does when the call
// breaks (the station's deadline passed, say); its Context ends then too.
// Only Recv, SendAndClose and Context work: nothing else is needed.
type brokenStream[Req, Res any] struct {
	grpc.ServerStream // nil: its other methods are not for this test
	msgs              []*Req
	err               error
	ctx               endingContext
	sentAndClosed     int // calls to SendAndClose
}

func breakAfter[Req, Res any](err error, msgs ...*Req) *brokenStream[Req, Res] {
	return &brokenStream[Req, Res]{msgs: msgs, err: err, ctx: endingContext{done: make(chan struct{}), once: &sync.Once{}}}
}

func (s *brokenStream[Req, Res]) Context() context.Context { return s.ctx }

func (s *brokenStream[Req, Res]) Recv() (*Req, error) {
	if len(s.msgs) > 0 {
		m := s.msgs[0]
		s.msgs = s.msgs[1:]
		return m, nil
	}
	s.ctx.once.Do(func() { close(s.ctx.done) })
	return nil, s.err
}

func (s *brokenStream[Req, Res]) SendAndClose(*Res) error {
	s.sentAndClosed++
	return s.err
}

// endingContext is brokenStream's context: its deadline passes the moment
// Recv fails.
type endingContext struct {
	done chan struct{}
	once *sync.Once
}

func (c endingContext) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c endingContext) Done() <-chan struct{}       { return c.done }
func (c endingContext) Value(any) any               { return nil }
func (c endingContext) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

// acked calls hub.Acked (given code, but it takes the mutex your record uses).
func (h *hub) acked(t *testing.T) []string {
	t.Helper()
	var got []string
	harness.Call(t, "hub.Acked()", func() { got = h.Acked() })
	return got
}

// closeAndRecv ends a call the test made to your hub and waits for its
// answer, for at most harness.WaitLimit: a handler that is stuck fails the
// test within seconds, with the line where it waits.
func closeAndRecv[Req, Res any](t *testing.T, stream grpc.ClientStreamingClient[Req, Res], call string) (*Res, error) {
	t.Helper()
	var (
		reply *Res
		err   error
	)
	harness.Call(t, call+": CloseAndRecv()", func() { reply, err = stream.CloseAndRecv() })
	return reply, err
}

// sendValues sends one reading per value. It ignores Send's errors on
// purpose: the hub tests judge the hub by the status the call ends with,
// which CloseAndRecv reports. Task 3 shows how a real client treats them.
func sendValues(stream sensorpb.Hub_UploadClient, values ...int64) {
	for _, v := range values {
		_ = stream.Send(&sensorpb.Reading{Decicelsius: v})
	}
}

// uploadValues sends values to the hub as one Upload call and returns its
// outcome.
func uploadValues(t *testing.T, client sensorpb.HubClient, values ...int64) (*sensorpb.Summary, error) {
	t.Helper()
	stream, err := client.Upload(harness.Context(t))
	harness.RequireOK(t, err, "starting an Upload call")
	sendValues(stream, values...)
	return closeAndRecv(t, stream, fmt.Sprintf("Upload of %v", values))
}

// sendAcks sends one acknowledgement per task id, ignoring Send's errors as
// sendValues does.
func sendAcks(stream sensorpb.Hub_AckClient, taskIDs ...string) {
	for _, id := range taskIDs {
		_ = stream.Send(&sensorpb.Acknowledgement{TaskId: id})
	}
}

// requireReplied stops the test unless a call succeeded. A handler that
// returns nil without SendAndClose gets its own explanation.
func requireReplied(t *testing.T, err error, call string) {
	t.Helper()
	if s := status.Convert(err); err != nil && s.Code() == codes.Internal {
		t.Fatalf("%s: got codes.Internal (%q), want a reply.\nThe handler returned without sending one. A "+
			"client-streaming handler ends with `return stream.SendAndClose(reply)` once Recv says io.EOF.", call, s.Message())
	}
	harness.RequireOK(t, err, call)
}

// assertSummary compares two summaries as protobuf messages.
func assertSummary(t *testing.T, want, got *sensorpb.Summary, what string) bool {
	t.Helper()
	if proto.Equal(want, got) {
		return true
	}
	t.Errorf("%s: want the summary {%s}, got {%s}", what, text(want), text(got))
	return false
}

// text renders a message on one line; a nil message shows as "nil".
func text(m proto.Message) string {
	if m == nil || !m.ProtoReflect().IsValid() {
		return "nil"
	}
	return prototext.MarshalOptions{}.Format(m)
}

// readings turns values into Reading messages.
func readings(values ...int64) []*sensorpb.Reading {
	out := make([]*sensorpb.Reading, len(values))
	for i, v := range values {
		out[i] = &sensorpb.Reading{Decicelsius: v}
	}
	return out
}

// counting yields the readings 1, 2, 3, ..., n: a long upload that is cheap
// to make. after, if not nil, runs once reading k has been taken.
func counting(n int64, k int64, after func()) iter.Seq[*sensorpb.Reading] {
	return func(yield func(*sensorpb.Reading) bool) {
		for v := int64(1); v <= n; v++ {
			if !yield(&sensorpb.Reading{Decicelsius: v}) {
				return
			}
			if v == k && after != nil {
				after()
			}
		}
	}
}

// The calls into your client code go through harness.Call: one that blocks
// or panics fails the test within seconds, naming your line.

// uploadAll calls UploadAll; call says how, for the messages.
func uploadAll(t *testing.T, call string, ctx context.Context, client sensorpb.HubClient, rs iter.Seq[*sensorpb.Reading]) (*sensorpb.Summary, error) {
	t.Helper()
	var (
		summary *sensorpb.Summary
		err     error
	)
	harness.Call(t, call, func() { summary, err = clientstream.UploadAll(ctx, client, rs) })
	return summary, err
}

func newUploader(t *testing.T, ctx context.Context, client sensorpb.HubClient) *clientstream.Uploader {
	t.Helper()
	var (
		up  *clientstream.Uploader
		err error
	)
	harness.Call(t, "NewUploader(ctx, client)", func() { up, err = clientstream.NewUploader(ctx, client) })
	harness.RequireOK(t, err, "NewUploader(ctx, client)")
	if up == nil {
		t.Fatal("NewUploader returned a nil Uploader and no error: return the Uploader you made")
	}
	return up
}

func write(t *testing.T, up *clientstream.Uploader, value int64) error {
	t.Helper()
	var err error
	harness.Call(t, fmt.Sprintf("up.Write(reading %d)", value), func() { err = up.Write(&sensorpb.Reading{Decicelsius: value}) })
	return err
}

func doneWriting(t *testing.T, up *clientstream.Uploader) (*sensorpb.Summary, error) {
	t.Helper()
	var (
		summary *sensorpb.Summary
		err     error
	)
	harness.Call(t, "up.DoneWriting()", func() { summary, err = up.DoneWriting() })
	return summary, err
}

// requireNotEOF stops the test if the code under test passed on Send's
// io.EOF instead of the status behind it.
func requireNotEOF(t *testing.T, err error, call string) {
	t.Helper()
	if errors.Is(err, io.EOF) {
		t.Fatalf("%s: got io.EOF. Send returns io.EOF when the stream has ended, whoever ended it; it says "+
			"nothing about why. Call CloseAndRecv (once) and return its status instead.", call)
	}
}
