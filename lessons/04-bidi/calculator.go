// Package bidi is lesson 04 of the workbook: bidirectional streams, where
// both sides send and receive on one call at the same time. README.md in this
// folder tells the story and lists the tasks; each TODO below names the task
// it belongs to.
package bidi

import (
	"errors"

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
	// TODO(lesson 04): Task 1. Recv until io.EOF and answer each request with
	// a CalcReply carrying its id (use evaluate; a failed evaluation goes in
	// the reply's error field). Reject an id that is not positive with
	// codes.InvalidArgument. At io.EOF, return nil.
	return status.Error(codes.Unimplemented, "Calculate is not implemented yet (lesson 04, task 1)")
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
