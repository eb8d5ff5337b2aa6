package bidi_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/internal/harness"
	bidi "github.com/grpc-workbook/streaming/lessons/04-bidi"
	"github.com/grpc-workbook/streaming/lessons/04-bidi/bidipb"
)

// givenCalculator is the test's own Calculator, so that the client tests
// depend on your client code alone. It adds a and b and echoes the padding,
// and it answers in pairs swapped (2, 1, 4, 3, ...): replies do not come in
// request order, so only their ids say which request they answer.
//
// It replies as it reads, holding back at most one request, like any server
// that does not buffer a whole call: if the client stops reading, this
// server's Send blocks, and then it stops reading too.
type givenCalculator struct {
	bidipb.UnimplementedCalculatorServer

	skip    int64 // if > 0, never answer this id
	repeat  int64 // if > 0, answer this id twice
	unknown int64 // if > 0, answer the first pair with a reply for this id too
}

func (g *givenCalculator) Calculate(stream bidipb.Calculator_CalculateServer) error {
	var held *bidipb.CalcRequest
	reply := func(req *bidipb.CalcRequest) error {
		if req.GetId() == g.skip {
			return nil
		}
		r := &bidipb.CalcReply{Id: req.GetId(), Result: req.GetA() + req.GetB(), Padding: req.GetPadding()}
		if req.GetId() == g.repeat {
			if err := stream.Send(r); err != nil {
				return err
			}
		}
		if g.unknown > 0 && req.GetId() == 1 {
			if err := stream.Send(&bidipb.CalcReply{Id: g.unknown}); err != nil {
				return err
			}
		}
		return stream.Send(r)
	}
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			if held != nil {
				return reply(held)
			}
			return nil
		}
		if err != nil {
			return err
		}
		if held == nil {
			held = req
			continue
		}
		if err := reply(req); err != nil {
			return err
		}
		if err := reply(held); err != nil {
			return err
		}
		held = nil
	}
}

// failingCalculator is the test's own Calculator that reads some requests,
// answers none, waits until the client is in the Send the test holds (see
// watchedClient), and ends the call with ResourceExhausted.
type failingCalculator struct {
	bidipb.UnimplementedCalculatorServer
	after int           // requests to read first
	held  chan struct{} // closed when the client's held Send has started
}

func (f *failingCalculator) Calculate(stream bidipb.Calculator_CalculateServer) error {
	for range f.after {
		if _, err := stream.Recv(); err != nil {
			return err
		}
	}
	select {
	case <-f.held:
	case <-stream.Context().Done():
		return status.FromContextError(stream.Context().Err()).Err()
	}
	return status.Error(codes.ResourceExhausted, "the given calculator is out of paper")
}

func startGivenCalculator(t *testing.T, calc bidipb.CalculatorServer) bidipb.CalculatorClient {
	t.Helper()
	srv := harness.Start(t, func(s *grpc.Server) { bidipb.RegisterCalculatorServer(s, calc) })
	return bidipb.NewCalculatorClient(srv.Conn)
}

// watchedClient stands between CalculateAll and the real client, and hands
// CalculateAll a stream that checks gRPC's rules as it is used. With
// holdSend set, the Send of that request number blocks until the stream's
// context ends, as a Send blocked on flow control does: only a cancel frees
// it.
type watchedClient struct {
	bidipb.CalculatorClient
	holdSend int
	held     chan struct{} // closed when the held Send starts
	stream   *watchedStream

	caller   atomic.Value // the id of the goroutine that called CalculateAll
	returned atomic.Bool  // CalculateAll has returned
	late     atomic.Value // a call on the stream that returned after CalculateAll did
}

func watch(client bidipb.CalculatorClient, holdSend int) *watchedClient {
	return &watchedClient{CalculatorClient: client, holdSend: holdSend, held: make(chan struct{})}
}

func (c *watchedClient) Calculate(ctx context.Context, opts ...grpc.CallOption) (bidipb.Calculator_CalculateClient, error) {
	stream, err := c.CalculatorClient.Calculate(ctx, opts...)
	if err != nil {
		return nil, err
	}
	c.stream = &watchedStream{Calculator_CalculateClient: stream, c: c, ctx: ctx, heldDone: make(chan struct{})}
	return c.stream, nil
}

// callerWaits reports whether the goroutine that called CalculateAll is
// still in it and blocked, with nothing else of yours but self able to move:
// then it can only be waiting for self.
func (c *watchedClient) callerWaits(self int) bool {
	gs := lessonGoroutines()
	g, ok := gs[c.caller.Load().(int)]
	return ok && blocked(g.State) && othersBlocked(gs, self)
}

// watchedStream counts the calls in progress on each side. gRPC allows one
// goroutine in Send or CloseSend and another in Recv; it notes a second
// sender or a second receiver, and any call that returns after CalculateAll
// did. To make a second sender show every time, the first Send waits until
// another one starts or nothing else of yours can move.
type watchedStream struct {
	bidipb.Calculator_CalculateClient
	c   *watchedClient
	ctx context.Context

	sends              atomic.Int32
	sending, receiving atomic.Int32 // calls in progress on each side
	overlapped         atomic.Bool  // two on one side at once
	heldDone           chan struct{}
}

func (s *watchedStream) enter(side *atomic.Int32) {
	if side.Add(1) > 1 {
		s.overlapped.Store(true)
	}
}

func (s *watchedStream) exit(side *atomic.Int32, call string) {
	side.Add(-1)
	if s.c.returned.Load() {
		s.c.late.Store(call + " returned after CalculateAll had returned")
	}
}

func (s *watchedStream) Send(req *bidipb.CalcRequest) error {
	s.enter(&s.sending)
	self := currentGoroutine()
	n := int(s.sends.Add(1))
	if n == 1 {
		harness.Eventually(func() bool { return s.overlapped.Load() || othersBlocked(lessonGoroutines(), self) })
	}
	held := n == s.c.holdSend
	if held {
		close(s.c.held)
		<-s.ctx.Done()
		if self != s.c.caller.Load() {
			// A goroutine CalculateAll started: it goes on only once
			// CalculateAll has returned, or is waiting for it.
			harness.Eventually(func() bool { return s.c.returned.Load() || s.c.callerWaits(self) })
		}
	}
	err := s.Calculator_CalculateClient.Send(req)
	s.exit(&s.sending, "Send")
	if held {
		close(s.heldDone)
	}
	return err
}

func (s *watchedStream) CloseSend() error {
	s.enter(&s.sending)
	err := s.Calculator_CalculateClient.CloseSend()
	s.exit(&s.sending, "CloseSend")
	return err
}

func (s *watchedStream) Recv() (*bidipb.CalcReply, error) {
	s.enter(&s.receiving)
	reply, err := s.Calculator_CalculateClient.Recv()
	s.exit(&s.receiving, "Recv")
	return reply, err
}

// calculateAll calls CalculateAll through harness.Call (a deadlock fails
// within seconds, naming your line) and then checks that, once it returned,
// nothing it started was still running: no call on the stream, no goroutine.
func calculateAll(t *testing.T, ctx context.Context, c *watchedClient, reqs []*bidipb.CalcRequest) (map[int64]*bidipb.CalcReply, error) {
	t.Helper()
	before := lessonGoroutines()
	var replies map[int64]*bidipb.CalcReply
	var err error
	harness.Call(t, "CalculateAll(ctx, client, reqs)", func() {
		c.caller.Store(currentGoroutine())
		replies, err = bidi.CalculateAll(ctx, c, reqs)
	})
	c.returned.Store(true)
	if s := c.stream; s != nil {
		assert.False(t, s.overlapped.Load(),
			"two goroutines were in Send (or Send and CloseSend, or two in Recv) at once on the stream: one sender, one receiver")
		assert.Zero(t, s.sending.Load(), "Sends still running when CalculateAll returned: wait for every goroutine you start")
		assert.Zero(t, s.receiving.Load(), "Recvs still running when CalculateAll returned: wait for the receiving goroutine")
		select {
		case <-c.held:
			harness.Wait(t, s.heldDone, "the held Send to return after the stream's context ended")
		default:
		}
		if late := c.late.Load(); late != nil {
			t.Errorf("%s: wait for every goroutine you start before returning", late)
		}
	}
	requireNoGoroutineLeft(t, before, "CalculateAll has returned, yet")
	return replies, err
}

func numbered(n int, padding []byte) []*bidipb.CalcRequest {
	reqs := make([]*bidipb.CalcRequest, n)
	for i := range reqs {
		id := int64(i + 1)
		reqs[i] = &bidipb.CalcRequest{Id: id, Op: bidipb.Op_OP_ADD, A: id, B: 1000, Padding: padding}
	}
	return reqs
}

func TestBidi_CalculateAll_FilesRepliesByID(t *testing.T) {
	client := watch(startGivenCalculator(t, &givenCalculator{}), 0)

	const n = 25 // odd: the last request is answered only after CloseSend
	replies, err := calculateAll(t, harness.Context(t), client, numbered(n, nil))
	harness.RequireOK(t, err, "CalculateAll with 25 requests")
	require.Len(t, replies, n, "CalculateAll: one reply per request")
	for id := int64(1); id <= n; id++ {
		assert.Equal(t, id, replies[id].GetId(), "the id of replies[%d]", id)
		assert.Equal(t, id+1000, replies[id].GetResult(),
			"the result in replies[%d]: file each reply by its id, not by arrival order", id)
	}
}

// TestBidi_CalculateAll_NoRequests_EmptyMap: an empty call is valid. The
// client sends nothing, half-closes, and the server ends with OK.
func TestBidi_CalculateAll_NoRequests_EmptyMap(t *testing.T) {
	client := watch(startGivenCalculator(t, &givenCalculator{}), 0)

	replies, err := calculateAll(t, harness.Context(t), client, nil)
	harness.RequireOK(t, err, "CalculateAll with no requests")
	assert.Empty(t, replies, "the replies to no requests")
}

// TestBidi_CalculateAll_ManyLargeMessages_NoDeadlock sends far more bytes
// each way than the flow-control windows and buffers hold. A client that
// sends everything before it reads blocks in Send once the server, blocked in
// its own Send, stops reading: see the README's "Deadlock" section.
func TestBidi_CalculateAll_ManyLargeMessages_NoDeadlock(t *testing.T) {
	client := watch(startGivenCalculator(t, &givenCalculator{}), 0)

	padding := bytes.Repeat([]byte("x"), 64<<10) // 64 KiB, the size of a stream's initial window
	const n = 24                                 // 1.5 MiB each way; a client that sends everything first sticks at about 10
	replies, err := calculateAll(t, harness.Context(t), client, numbered(n, padding))
	harness.RequireOK(t, err, "CalculateAll with 64 requests of 64 KiB")
	require.Len(t, replies, n, "CalculateAll: one reply per request")
	for id, reply := range replies {
		assert.Len(t, reply.GetPadding(), len(padding), "the padding of reply %d", id)
	}
}

// TestBidi_CalculateAll_ServerFails_ReturnsItsStatus has the server end the
// call with ResourceExhausted while your Send of request 7 is blocked. That
// Send then fails with io.EOF, which only says the call is over: the status
// is what Recv returned.
func TestBidi_CalculateAll_ServerFails_ReturnsItsStatus(t *testing.T) {
	client := watch(nil, 7)
	client.CalculatorClient = startGivenCalculator(t, &failingCalculator{after: 6, held: client.held})

	_, err := calculateAll(t, harness.Context(t), client, numbered(20, nil))
	harness.RequireCode(t, err, codes.ResourceExhausted, "CalculateAll against a server that fails while request 7 is being sent")
}

// TestBidi_CalculateAll_NothingOutlivesReturn has the server fail while the
// Send of the last request is blocked. CalculateAll must not return until
// that Send has returned: a goroutine still sending after its caller moved
// on is a leak, and a data race on the stream.
func TestBidi_CalculateAll_NothingOutlivesReturn(t *testing.T) {
	client := watch(nil, 4)
	client.CalculatorClient = startGivenCalculator(t, &failingCalculator{after: 3, held: client.held})

	_, err := calculateAll(t, harness.Context(t), client, numbered(4, nil))
	harness.RequireCode(t, err, codes.ResourceExhausted, "CalculateAll against a server that fails while the last request is being sent")
}

// TestBidi_CalculateAll_WrongReplies_AreErrors: every id is answered exactly
// once. The repeated and unknown replies arrive while your Send of request 9
// is blocked: return the error at once, which means cancelling that Send.
func TestBidi_CalculateAll_WrongReplies_AreErrors(t *testing.T) {
	cases := []struct {
		name     string
		g        *givenCalculator
		holdSend int
		bad      string // what the error should name
	}{
		{"no reply for id 7", &givenCalculator{skip: 7}, 0, "7"},
		{"two replies for id 7", &givenCalculator{repeat: 7}, 9, "7"},
		{"a reply for id 99, never sent", &givenCalculator{unknown: 99}, 9, "99"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client := watch(startGivenCalculator(t, tc.g), tc.holdSend)
			replies, err := calculateAll(t, harness.Context(t), client, numbered(10, nil))
			require.Error(t, err, "CalculateAll when the server sends %s", tc.name)
			assert.Contains(t, err.Error(), tc.bad, "the error should name the id")
			assert.Nil(t, replies, "no replies on error")
		})
	}
}

// TestBidi_CalculateAll_CallerCancels_ReturnsCanceled cancels the caller's
// context while the server still holds the call open. The stream must be
// built on that context, so the call ends and CalculateAll returns Canceled.
func TestBidi_CalculateAll_CallerCancels_ReturnsCanceled(t *testing.T) {
	h := &heldCalculator{release: make(chan struct{}), received: make(chan int64, 16)}
	client := watch(startGivenCalculator(t, h), 0)
	ctx, cancel := context.WithCancel(harness.Context(t))
	defer cancel()
	go func() {
		select {
		case <-h.received: // the server has request 1; no reply will come
			cancel()
		case <-t.Context().Done():
		}
	}()

	_, err := calculateAll(t, ctx, client, numbered(3, nil))
	harness.RequireCode(t, err, codes.Canceled, "CalculateAll after its caller cancelled, with the server still holding the call")
}
