// Mistake: CalculateAll sends each request on a goroutine of its own.
//
// Why it is wrong: That is many goroutines in Send on one stream at once, which
// grpc-go forbids (ClientStream.SendMsg docs): frames can interleave and
// messages corrupt, and go test -race reports a data race.
//
// Caught by: TestBidi_CalculateAll_FilesRepliesByID

package bidi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

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

	sent := make(map[int64]bool, len(reqs))
	for _, req := range reqs {
		sent[req.GetId()] = true
	}
	replies := make(map[int64]*bidipb.CalcReply, len(reqs))
	var recvErr error
	received := make(chan struct{})
	go func() { // the only goroutine that calls Recv
		defer close(received)
		recvErr = receiveAll(stream, sent, replies)
		if recvErr != nil {
			cancel()
		}
	}()

	// Send them all at once, each on its own goroutine, and wait for them.
	var wg sync.WaitGroup
	for _, req := range reqs {
		wg.Go(func() { stream.Send(req) }) //nolint:errcheck // Recv has the status
	}
	wg.Wait()
	stream.CloseSend() //nolint:errcheck // always nil: the status comes from Recv
	<-received
	if recvErr != nil {
		return nil, recvErr
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
