package bidi

import (
	"context"
	"errors"

	"github.com/grpc-workbook/streaming/lessons/04-bidi/bidipb"
)

// CalculateAll sends every request on one Calculate stream while it reads the
// replies, and returns the replies keyed by request id. It fails if the call
// fails (with the call's status), or if a reply is missing, repeated, or
// names an id that was never sent. It returns only once nothing it started
// is still running.
func CalculateAll(ctx context.Context, client bidipb.CalculatorClient, reqs []*bidipb.CalcRequest) (map[int64]*bidipb.CalcReply, error) {
	// TODO(lesson 04): Task 3. Open the stream with a cancellable child of
	// ctx. Start one goroutine that Recvs until io.EOF, filing each reply
	// under its id, and cancels if it stops on an error. Meanwhile Send every
	// request here, then CloseSend, then wait for that goroutine.
	return nil, errors.New("CalculateAll is not implemented yet (lesson 04, task 3)")
}
