package bidi

import (
	"context"
	"errors"

	"github.com/grpc-workbook/streaming/lessons/04-bidi/bidipb"
)

// CalculateAll sends every request on one Calculate stream while it reads the
// replies, and returns the replies keyed by request id. It fails if the call
// fails (with the call's status), or if a reply is missing, repeated, or
// names an id that was never sent.
func CalculateAll(ctx context.Context, client bidipb.CalculatorClient, reqs []*bidipb.CalcRequest) (map[int64]*bidipb.CalcReply, error) {
	// TODO(lesson 04): Task 3. Open the stream with a cancellable child of
	// ctx. Write every request through your Writer from a goroutine of its
	// own, then DoneWriting; meanwhile Recv here until io.EOF, filing each
	// reply under its id.
	return nil, errors.New("CalculateAll is not implemented yet (lesson 04, task 3)")
}
