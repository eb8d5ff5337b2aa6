package bidi_test

import (
	"bytes"
	"errors"
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

	failAfter int   // if > 0, end the call with ResourceExhausted after this many replies
	skip      int64 // if > 0, never answer this id
	repeat    int64 // if > 0, answer this id twice
}

func (g *givenCalculator) Calculate(stream bidipb.Calculator_CalculateServer) error {
	var held *bidipb.CalcRequest
	sent := 0
	reply := func(req *bidipb.CalcRequest) error {
		if g.failAfter > 0 && sent == g.failAfter {
			return status.Error(codes.ResourceExhausted, "the given calculator is out of paper")
		}
		sent++
		if req.GetId() == g.skip {
			return nil
		}
		r := &bidipb.CalcReply{Id: req.GetId(), Result: req.GetA() + req.GetB(), Padding: req.GetPadding()}
		if req.GetId() == g.repeat {
			if err := stream.Send(r); err != nil {
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

func startGivenCalculator(t *testing.T, g *givenCalculator) bidipb.CalculatorClient {
	t.Helper()
	srv := harness.Start(t, func(s *grpc.Server) { bidipb.RegisterCalculatorServer(s, g) })
	return bidipb.NewCalculatorClient(srv.Conn)
}

// calculateAll runs CalculateAll on its own goroutine, so a client that
// deadlocks fails at the fail-safe with a message instead of hanging.
func calculateAll(t *testing.T, client bidipb.CalculatorClient, reqs []*bidipb.CalcRequest) (map[int64]*bidipb.CalcReply, error) {
	t.Helper()
	type result struct {
		replies map[int64]*bidipb.CalcReply
		err     error
	}
	done := make(chan result, 1)
	go func() {
		replies, err := bidi.CalculateAll(harness.Context(t), client, reqs)
		done <- result{replies, err}
	}()
	r := harness.Wait(t, done, "CalculateAll to return (if this is the fail-safe, both sides are blocked in Send: see README.md, \"Deadlock: both sides sending, nobody reading\")")
	return r.replies, r.err
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
	harness.See(t, task3)
	client := startGivenCalculator(t, &givenCalculator{})

	const n = 25 // odd: the last request is answered only after CloseSend
	replies, err := calculateAll(t, client, numbered(n, nil))
	harness.RequireOK(t, err, "CalculateAll with 25 requests", task3)
	require.Len(t, replies, n, "CalculateAll: one reply per request; see README.md, %q", task3)
	for id := int64(1); id <= n; id++ {
		assert.Equal(t, id, replies[id].GetId(), "replies[%d] holds the reply for another request; see README.md, %q", id, task3)
		assert.Equal(t, id+1000, replies[id].GetResult(),
			"replies[%d]: want (left) the result of request %d, got (right): file replies by their id, not by arrival order; see README.md, %q",
			id, id, task3)
	}
}

// TestBidi_CalculateAll_ManyLargeMessages_NoDeadlock sends far more bytes
// each way than the flow-control windows and buffers hold. A client that
// sends everything before it reads blocks in Send once the server, blocked in
// its own Send, stops reading: see the README's "Deadlock" section.
func TestBidi_CalculateAll_ManyLargeMessages_NoDeadlock(t *testing.T) {
	harness.See(t, task3)
	client := startGivenCalculator(t, &givenCalculator{})

	padding := bytes.Repeat([]byte("x"), 64<<10) // 64 KiB, the size of a stream's initial window
	const n = 64                                 // 4 MiB each way; a client that sends everything first sticks before 10
	replies, err := calculateAll(t, client, numbered(n, padding))
	harness.RequireOK(t, err, "CalculateAll with 64 requests of 64 KiB", task3)
	require.Len(t, replies, n, "CalculateAll: one reply per request; see README.md, %q", task3)
	for id, reply := range replies {
		assert.Len(t, reply.GetPadding(), len(padding), "reply %d lost its padding", id)
	}
}

func TestBidi_CalculateAll_ServerFails_ReturnsItsStatus(t *testing.T) {
	harness.See(t, task3)
	client := startGivenCalculator(t, &givenCalculator{failAfter: 4})

	_, err := calculateAll(t, client, numbered(20, nil))
	harness.RequireCode(t, err, codes.ResourceExhausted,
		"CalculateAll against a server that fails after 4 replies (a Send's io.EOF is not the status: Recv has it)", task3)
}

func TestBidi_CalculateAll_LostOrRepeatedReply_IsAnError(t *testing.T) {
	harness.See(t, task3)
	cases := []struct {
		name string
		g    *givenCalculator
	}{
		{"reply for id 7 missing", &givenCalculator{skip: 7}},
		{"reply for id 7 twice", &givenCalculator{repeat: 7}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client := startGivenCalculator(t, tc.g)
			replies, err := calculateAll(t, client, numbered(10, nil))
			require.Error(t, err, "CalculateAll should fail when a %s: every id is answered exactly once; see README.md, %q", tc.name, task3)
			assert.Contains(t, err.Error(), "7", "the error should name the id; got %q; see README.md, %q", err, task3)
			assert.Nil(t, replies, "no replies on error")
		})
	}
}
