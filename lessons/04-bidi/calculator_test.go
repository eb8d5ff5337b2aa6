package bidi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
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

// startCalculator serves your Calculator in memory and returns a client.
func startCalculator(t *testing.T) (bidipb.CalculatorClient, *harness.Server) {
	t.Helper()
	srv := harness.Start(t, func(s *grpc.Server) {
		bidipb.RegisterCalculatorServer(s, bidi.NewCalculator())
	})
	return bidipb.NewCalculatorClient(srv.Conn), srv
}

// collected is everything one Calculate stream delivered, and how it ended.
type collected struct {
	replies []*bidipb.CalcReply
	err     error // the first non-nil error from Recv: io.EOF for a clean end
}

// collect receives on its own goroutine until the stream ends. The test's
// goroutine sends while this one receives: one sender, one receiver, the
// arrangement gRPC allows on a stream.
func collect(stream grpc.BidiStreamingClient[bidipb.CalcRequest, bidipb.CalcReply]) <-chan collected {
	done := make(chan collected, 1)
	go func() {
		var c collected
		for {
			reply, err := stream.Recv()
			if err != nil {
				c.err = err
				done <- c
				return
			}
			c.replies = append(c.replies, reply)
		}
	}()
	return done
}

// sendAll sends reqs and then closes the sending side. A Send error means the
// server ended the call; the status comes from Recv, so sendAll stops quietly.
func sendAll(stream grpc.BidiStreamingClient[bidipb.CalcRequest, bidipb.CalcReply], reqs []*bidipb.CalcRequest) {
	for _, req := range reqs {
		if stream.Send(req) != nil {
			break
		}
	}
	stream.CloseSend() //nolint:errcheck // always nil
}

// errOrNil turns the io.EOF that ends a stream well into nil, so that
// harness.RequireCode reads it as OK and explains anything else.
func errOrNil(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

func TestBidi_Calculate_EveryIDAnsweredOnce(t *testing.T) {
	client, _ := startCalculator(t)
	stream, err := client.Calculate(harness.Context(t))
	require.NoError(t, err)

	const n = 40
	ops := []bidipb.Op{bidipb.Op_OP_ADD, bidipb.Op_OP_SUBTRACT, bidipb.Op_OP_MULTIPLY, bidipb.Op_OP_DIVIDE}
	var reqs []*bidipb.CalcRequest
	want := map[int64]int64{}
	for id := int64(1); id <= n; id++ {
		req := &bidipb.CalcRequest{Id: id, Op: ops[id%4], A: 100 + id, B: id, Padding: fmt.Appendf(nil, "padding of %d", id)}
		reqs = append(reqs, req)
		want[id] = map[bidipb.Op]int64{
			bidipb.Op_OP_ADD:      req.GetA() + req.GetB(),
			bidipb.Op_OP_SUBTRACT: req.GetA() - req.GetB(),
			bidipb.Op_OP_MULTIPLY: req.GetA() * req.GetB(),
			bidipb.Op_OP_DIVIDE:   req.GetA() / req.GetB(),
		}[req.GetOp()]
	}
	got := collect(stream)
	sendAll(stream, reqs)
	c := harness.Wait(t, got, "Calculate's replies to end")
	harness.RequireOK(t, errOrNil(c.err), "Calculate with 40 requests, then CloseSend")

	byID := map[int64]int{}
	for _, reply := range c.replies {
		id := reply.GetId()
		byID[id]++
		assert.Equal(t, want[id], reply.GetResult(), "the result in the reply for id %d (each reply names its request's id)", id)
		assert.Equal(t, fmt.Sprintf("padding of %d", id), string(reply.GetPadding()),
			"the padding of the reply for id %d: copy the request's padding, unchanged", id)
	}
	for id := int64(1); id <= n; id++ {
		assert.Equal(t, 1, byID[id], "replies naming request id %d", id)
	}
}

// TestBidi_Calculate_HalfClose_RepliesThenEOF sends everything and closes its
// side before it reads a single reply. CloseSend only ends the client's
// direction: the server's Recv returns io.EOF, it still owes the replies,
// and the call ends with OK only when the handler returns nil.
func TestBidi_Calculate_HalfClose_RepliesThenEOF(t *testing.T) {
	client, srv := startCalculator(t)
	stream, err := client.Calculate(harness.Context(t))
	require.NoError(t, err)

	const n = 10 // few and small: they fit in the flow-control window, so sending first cannot block
	var reqs []*bidipb.CalcRequest
	for id := int64(1); id <= n; id++ {
		reqs = append(reqs, add(id, id, 1))
	}
	sendAll(stream, reqs)

	c := harness.Wait(t, collect(stream), "Calculate's replies after CloseSend")
	harness.RequireOK(t, errOrNil(c.err), "Calculate: Recv after CloseSend and all replies")
	assert.Len(t, c.replies, n, "replies after CloseSend: every request sent before it is still owed a reply")

	handler := srv.HandlerReturned(t, "Calculate")
	harness.AssertCode(t, handler.Err, codes.OK, "what the Calculate handler returned after the client's CloseSend")
}

func TestBidi_Calculate_DivideByZero_ReplyCarriesError(t *testing.T) {
	client, _ := startCalculator(t)
	stream, err := client.Calculate(harness.Context(t))
	require.NoError(t, err)

	got := collect(stream)
	sendAll(stream, []*bidipb.CalcRequest{
		{Id: 1, Op: bidipb.Op_OP_DIVIDE, A: 7, B: 0},
		add(2, 2, 3),
	})
	c := harness.Wait(t, got, "Calculate's replies to end")
	harness.RequireOK(t, errOrNil(c.err), "Calculate after a division by zero: one bad request must not end the whole stream")
	require.Len(t, c.replies, 2, "one reply per request")

	byID := map[int64]*bidipb.CalcReply{}
	for _, reply := range c.replies {
		byID[reply.GetId()] = reply
	}
	assert.Contains(t, byID[1].GetError(), "zero", "reply 1 (7 / 0) should carry the error in its error field")
	assert.Equal(t, int64(5), byID[2].GetResult(), "reply 2 (2 + 3) after the failed request")
}

// TestBidi_Calculate_IDMustBePositive checks both sides of the limit: 1 is
// the smallest id a reply can name, 0 is one past it.
func TestBidi_Calculate_IDMustBePositive(t *testing.T) {
	for _, id := range []int64{1, 0, -3} {
		t.Run(fmt.Sprintf("id=%d", id), func(t *testing.T) {
			client, _ := startCalculator(t)
			stream, err := client.Calculate(harness.Context(t))
			require.NoError(t, err)

			got := collect(stream)
			sendAll(stream, []*bidipb.CalcRequest{add(id, 1, 1)})
			c := harness.Wait(t, got, fmt.Sprintf("Calculate to end after a request with id %d", id))
			if id > 0 {
				harness.RequireOK(t, errOrNil(c.err), fmt.Sprintf("Calculate with request id %d, the smallest valid one", id))
				require.Len(t, c.replies, 1, "replies to one request with id %d", id)
				assert.Equal(t, id, c.replies[0].GetId(), "the reply's id")
				return
			}
			harness.RequireCode(t, errOrNil(c.err), codes.InvalidArgument, fmt.Sprintf("Calculate with request id %d", id))
			assert.Contains(t, status.Convert(c.err).Message(), fmt.Sprint(id), "the message should name the bad id")
			assert.Empty(t, c.replies, "no reply can name a request without a positive id")
		})
	}
}

// TestBidi_Calculate_ClientCancels_HandlerReturnsCanceled cancels the call
// while the stream is open. The handler's Recv fails with codes.Canceled:
// that is no clean end, so the handler must return that error, not nil.
func TestBidi_Calculate_ClientCancels_HandlerReturnsCanceled(t *testing.T) {
	client, srv := startCalculator(t)
	ctx, cancel := context.WithCancel(harness.Context(t))
	defer cancel()
	stream, err := client.Calculate(ctx)
	require.NoError(t, err)

	require.NoError(t, stream.Send(add(1, 2, 3)))
	reply, err := stream.Recv()
	harness.RequireOK(t, err, "Calculate: Recv of the reply to request 1")
	assert.Equal(t, int64(5), reply.GetResult())

	cancel() // the client goes away without CloseSend
	handler := srv.HandlerReturned(t, "Calculate")
	harness.AssertCode(t, sent(handler.Err), codes.Canceled, "what Calculate returned after the client cancelled")
}

// brokenCalcStream is a server stream whose Send fails, as a real one does
// once the client is gone. It hands out its requests, then io.EOF.
type brokenCalcStream struct {
	grpc.ServerStream // nil: only the methods below are used
	ctx               context.Context
	reqs              []*bidipb.CalcRequest
	sendErr           error
	sends             int
}

func (s *brokenCalcStream) Context() context.Context { return s.ctx }

func (s *brokenCalcStream) Recv() (*bidipb.CalcRequest, error) {
	if len(s.reqs) == 0 {
		return nil, io.EOF
	}
	req := s.reqs[0]
	s.reqs = s.reqs[1:]
	return req, nil
}

func (s *brokenCalcStream) Send(*bidipb.CalcReply) error {
	s.sends++
	return s.sendErr
}

// TestBidi_Calculate_SendFails_ReturnsItsError calls Calculate directly with
// a stream whose Send fails. The call is over: return that error at once,
// rather than reading on.
func TestBidi_Calculate_SendFails_ReturnsItsError(t *testing.T) {
	stream := &brokenCalcStream{
		ctx:     t.Context(),
		reqs:    []*bidipb.CalcRequest{add(1, 1, 1), add(2, 2, 2), add(3, 3, 3)},
		sendErr: status.Error(codes.Unavailable, "the client's connection is gone"),
	}
	var err error
	harness.Call(t, "NewCalculator().Calculate(stream)", func() { err = bidi.NewCalculator().Calculate(stream) })
	harness.RequireCode(t, err, codes.Unavailable, "Calculate on a stream whose first Send fails")
	assert.Equal(t, 1, stream.sends, "Send calls: after the first failed, the call was over")
}
