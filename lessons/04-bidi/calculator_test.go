package bidi_test

import (
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

func add(id, a, b int64) *bidipb.CalcRequest {
	return &bidipb.CalcRequest{Id: id, Op: bidipb.Op_OP_ADD, A: a, B: b}
}

func TestBidi_Calculate_EveryIDAnsweredOnce(t *testing.T) {
	harness.See(t, task1)
	client, _ := startCalculator(t)
	stream, err := client.Calculate(harness.Context(t))
	require.NoError(t, err)

	const n = 40
	var reqs []*bidipb.CalcRequest
	for id := int64(1); id <= n; id++ {
		ops := []bidipb.Op{bidipb.Op_OP_ADD, bidipb.Op_OP_SUBTRACT, bidipb.Op_OP_MULTIPLY, bidipb.Op_OP_DIVIDE}
		reqs = append(reqs, &bidipb.CalcRequest{Id: id, Op: ops[id%4], A: 100 + id, B: id})
	}
	got := collect(stream)
	sendAll(stream, reqs)
	c := harness.Wait(t, got, "Calculate's replies to end")

	harness.RequireCode(t, errOrNil(c.err), codes.OK, "Calculate with 40 requests, then CloseSend", task1)

	byID := map[int64]int{}
	for _, reply := range c.replies {
		byID[reply.GetId()]++
	}
	for _, req := range reqs {
		id := req.GetId()
		assert.Equal(t, 1, byID[id], "request id %d: want (left) exactly one reply, got (right); see README.md, %q", id, task1)
	}
	want := map[int64]int64{}
	for _, req := range reqs {
		switch req.GetOp() {
		case bidipb.Op_OP_ADD:
			want[req.GetId()] = req.GetA() + req.GetB()
		case bidipb.Op_OP_SUBTRACT:
			want[req.GetId()] = req.GetA() - req.GetB()
		case bidipb.Op_OP_MULTIPLY:
			want[req.GetId()] = req.GetA() * req.GetB()
		case bidipb.Op_OP_DIVIDE:
			want[req.GetId()] = req.GetA() / req.GetB()
		}
	}
	for _, reply := range c.replies {
		assert.Equal(t, want[reply.GetId()], reply.GetResult(),
			"reply for id %d: want (left) the result of that request, got (right); see README.md, %q", reply.GetId(), task1)
	}
}

// errOrNil turns the io.EOF that ends a stream well into nil, so that
// harness.RequireCode reads it as OK and explains anything else.
func errOrNil(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// TestBidi_Calculate_HalfClose_RepliesThenEOF sends everything and closes its
// side before it reads a single reply. CloseSend only ends the client's
// direction: the server's Recv returns io.EOF, it still owes the replies,
// and the call ends with OK only when the handler returns nil.
func TestBidi_Calculate_HalfClose_RepliesThenEOF(t *testing.T) {
	harness.See(t, task1)
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
	harness.RequireCode(t, errOrNil(c.err), codes.OK, "Calculate: Recv after CloseSend and all replies", task1)
	assert.Len(t, c.replies, n, "replies after CloseSend: every request sent before it is still owed a reply; see README.md, %q", task1)

	handler := srv.HandlerReturned(t, "Calculate")
	harness.AssertCode(t, handler.Err, codes.OK, "what the Calculate handler returned after the client's CloseSend", task1)
}

func TestBidi_Calculate_DivideByZero_ReplyCarriesError(t *testing.T) {
	harness.See(t, task1)
	client, _ := startCalculator(t)
	stream, err := client.Calculate(harness.Context(t))
	require.NoError(t, err)

	got := collect(stream)
	sendAll(stream, []*bidipb.CalcRequest{
		{Id: 1, Op: bidipb.Op_OP_DIVIDE, A: 7, B: 0},
		add(2, 2, 3),
	})
	c := harness.Wait(t, got, "Calculate's replies to end")
	harness.RequireCode(t, errOrNil(c.err), codes.OK,
		"Calculate after a division by zero: one bad request must not end the whole stream", task1)
	require.Len(t, c.replies, 2, "one reply per request; see README.md, %q", task1)

	byID := map[int64]*bidipb.CalcReply{}
	for _, reply := range c.replies {
		byID[reply.GetId()] = reply
	}
	assert.Contains(t, byID[1].GetError(), "zero", "reply 1 (7 / 0) should carry the error in its error field; see README.md, %q", task1)
	assert.Equal(t, int64(5), byID[2].GetResult(), "reply 2 (2 + 3) after the failed request; see README.md, %q", task1)
}

func TestBidi_Calculate_NonPositiveID_InvalidArgument(t *testing.T) {
	harness.See(t, task1)
	for _, id := range []int64{0, -3} {
		t.Run(fmt.Sprintf("id=%d", id), func(t *testing.T) {
			client, _ := startCalculator(t)
			stream, err := client.Calculate(harness.Context(t))
			require.NoError(t, err)

			got := collect(stream)
			sendAll(stream, []*bidipb.CalcRequest{add(id, 1, 1)})
			c := harness.Wait(t, got, "Calculate to end after a request with a bad id")
			harness.RequireCode(t, errOrNil(c.err), codes.InvalidArgument, fmt.Sprintf("Calculate with request id %d", id), task1)
			assert.Contains(t, status.Convert(c.err).Message(), "id", "the message should say the id is what is wrong")
			assert.Empty(t, c.replies, "no reply can name a request without an id")
		})
	}
}
