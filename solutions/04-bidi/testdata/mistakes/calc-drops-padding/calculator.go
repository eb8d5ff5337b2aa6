// Mistake: The reply leaves out the request's padding.
//
// Why it is wrong: The service promises to carry the padding back unchanged
// (bidi.proto); a client that sizes its messages with it gets empty replies.
//
// Caught by: TestBidi_Calculate_EveryIDAnsweredOnce

// Package bidi is lesson 04 of the workbook: bidirectional streams, where
// both sides send and receive on one call at the same time. README.md in this
// folder tells the story and lists the tasks; each TODO below names the task
// it belongs to.
package bidi

import (
	"errors"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/lessons/04-bidi/bidipb"
)

// Calculator answers numbered arithmetic requests on one stream.
type Calculator struct {
	bidipb.UnimplementedCalculatorServer
}

// NewCalculator returns a Calculator.
func NewCalculator() *Calculator { return &Calculator{} }

// Calculate reads requests until the client closes its side, and answers each
// one with a reply that carries the request's id.
func (c *Calculator) Calculate(stream bidipb.Calculator_CalculateServer) error {
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			// The client called CloseSend: no more requests will come. Every
			// request so far has been answered, so the call ends with OK.
			return nil
		}
		if err != nil {
			return err // the client went away; err already carries its status
		}
		if req.GetId() <= 0 {
			return status.Errorf(codes.InvalidArgument,
				"request id must be positive so that its reply can name it, got %d", req.GetId())
		}
		reply := &bidipb.CalcReply{Id: req.GetId()}
		if result, err := evaluate(req.GetOp(), req.GetA(), req.GetB()); err != nil {
			reply.Error = err.Error() // this request failed; the stream goes on
		} else {
			reply.Result = result
		}
		if err := stream.Send(reply); err != nil {
			return err
		}
	}
}

// evaluate is given: it does the arithmetic, so the lesson can be about the
// stream.
func evaluate(op bidipb.Op, a, b int64) (int64, error) {
	switch op {
	case bidipb.Op_OP_ADD:
		return a + b, nil
	case bidipb.Op_OP_SUBTRACT:
		return a - b, nil
	case bidipb.Op_OP_MULTIPLY:
		return a * b, nil
	case bidipb.Op_OP_DIVIDE:
		if b == 0 {
			return 0, errors.New("division by zero")
		}
		return a / b, nil
	default:
		return 0, errors.New("unknown op " + op.String())
	}
}
