// Mistake: Calculate returns the io.EOF that Recv gives at half-close.
//
// Why it is wrong: A handler's error must be a status or a context error
// (grpc.StreamHandler docs); anything else reaches the client as codes.Unknown,
// here with the message "EOF". io.EOF from Recv is the clean end: return nil,
// and the client's Recv sees io.EOF after the last reply.
//
// Caught by: TestBidi_Calculate_HalfClose_RepliesThenEOF

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
			return err // the client called CloseSend: the requests are over
		}
		if err != nil {
			return err // the client went away; err already carries its status
		}
		if req.GetId() <= 0 {
			return status.Errorf(codes.InvalidArgument,
				"request id must be positive so that its reply can name it, got %d", req.GetId())
		}
		reply := &bidipb.CalcReply{Id: req.GetId(), Padding: req.GetPadding()}
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
