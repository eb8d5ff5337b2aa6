// Mistake: CalculateAll feeds a Writer from a producer goroutine, and on return
// waits for the producer but not for the Writer.
//
// Why it is wrong: Write returns once the loop holds the message, so the
// producer can be done while the Writer's goroutine is still inside Send:
// CalculateAll returns with a goroutine of its own still using the stream (a
// leak, and a data race with whoever touches the stream next). A closer waits
// for its goroutines (w.Wait() here); better still, one producer needs no
// Writer at all.
//
// Caught by: TestBidi_CalculateAll_NothingOutlivesReturn

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
// names an id that was never sent. It returns only once nothing it started
// is still running.
func CalculateAll(ctx context.Context, client bidipb.CalculatorClient, reqs []*bidipb.CalcRequest) (map[int64]*bidipb.CalcReply, error) {
	// The stream lives on a child of ctx. Cancelling it releases the stream
	// on every return (see the ClientConn.NewStream docs), and it is how the
	// receiving goroutine, once it knows the call is over or wrong, stops a
	// Send that is blocked on flow control.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := client.Calculate(ctx)
	if err != nil {
		return nil, err
	}

	// Writing happens on the Writer's goroutine, fed by a producer goroutine;
	// this goroutine only reads.
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
	if err := receiveAll(stream, sent, replies); err != nil {
		return nil, err
	}
	return replies, nil
}

// receiveAll files each reply under its id until the stream ends, and checks
// that every id in sent was answered exactly once.
func receiveAll(stream bidipb.Calculator_CalculateClient, sent map[int64]bool, replies map[int64]*bidipb.CalcReply) error {
	for {
		reply, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err // the call's status, e.g. ResourceExhausted
		}
		id := reply.GetId()
		switch {
		case !sent[id]:
			return fmt.Errorf("reply for id %d, which was never sent", id)
		case replies[id] != nil:
			return fmt.Errorf("second reply for id %d", id)
		}
		replies[id] = reply
	}
	for id := range sent {
		if replies[id] == nil {
			return fmt.Errorf("the call ended without a reply for id %d", id)
		}
	}
	return nil
}
