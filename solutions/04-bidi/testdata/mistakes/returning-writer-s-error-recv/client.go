// Mistake: returning the Writer's error instead of Recv's status.
//
// Caught by: TestBidi_CalculateAll_ServerFails_ReturnsItsStatus

package bidi

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/grpc-workbook/streaming/lessons/04-bidi/bidipb"
)

// CalculateAll sends every request on one Calculate stream while it reads the
// replies, and returns the replies keyed by request id. It fails if the call
// fails (with the call's status), or if a reply is missing, repeated, or
// names an id that was never sent.
func CalculateAll(ctx context.Context, client bidipb.CalculatorClient, reqs []*bidipb.CalcRequest) (map[int64]*bidipb.CalcReply, error) {
	// Cancelling on every return releases the stream even when we stop
	// reading early (see the ClientConn.NewStream docs).
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	stream, err := client.Calculate(ctx)
	if err != nil {
		return nil, err
	}

	// Writing happens on the Writer's goroutine, fed by a producer goroutine;
	// this goroutine only reads. Sending everything first and reading
	// afterwards deadlocks once the messages outgrow the flow-control window.
	w := NewWriter(ctx, stream)
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for _, req := range reqs {
			if w.Write(req) != nil {
				return // the stream broke; Recv below reports why
			}
		}
		w.DoneWriting()
	}()
	defer func() {
		cancel() // stops the Writer if we return before the server ended the call
		<-produced
	}()

	sent := make(map[int64]bool, len(reqs))
	for _, req := range reqs {
		sent[req.GetId()] = true
	}
	replies := make(map[int64]*bidipb.CalcReply, len(reqs))
	for {
		reply, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			cancel()
			return nil, w.Wait() // the Writer knows why the call broke
		}
		id := reply.GetId()
		switch {
		case !sent[id]:
			return nil, fmt.Errorf("reply for id %d, which was never sent", id)
		case replies[id] != nil:
			return nil, fmt.Errorf("second reply for id %d", id)
		}
		replies[id] = reply
	}
	if len(replies) != len(sent) {
		for id := range sent {
			if replies[id] == nil {
				return nil, fmt.Errorf("the call ended without a reply for id %d", id)
			}
		}
	}
	return replies, nil
}
