// Mistake: Follow gives up with the last error even when it is nil.
//
// Why it is wrong: when every replica ended its stream cleanly (Goodbye,
// then io.EOF) without a message, the last error is nil, and the caller
// reads "done" where no replica works.
//
// Caught by: TestScaleOut_Follow_EveryReplicaSaysGoodbyeAtOnce_ReturnsUnavailable

package scaleout

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/lessons/08-scale-out/scaleoutpb"
)

// Follow calls handle with every message numbered above after, in order, each
// once, for as long as ctx lasts, starting on replicas[0]. When a replica
// says Goodbye, ends the stream or becomes unavailable, Follow moves to the
// next replica (after the last, the first again) and resumes after the last
// message handled. It returns ctx's error when ctx ends, any other error as
// it came (an OutOfRange included), and the last error when every replica
// has failed in a row without delivering a message.
func Follow(ctx context.Context, replicas []scaleoutpb.HubClient, after uint64, handle func(*scaleoutpb.Message)) error {
	if len(replicas) == 0 {
		return errors.New("follow: no replicas")
	}
	i, fruitless := 0, 0 // fruitless: streams in a row that delivered nothing
	for {
		delivered, err := followOne(ctx, replicas[i], &after, handle)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil && status.Code(err) != codes.Unavailable {
			return err
		}
		if delivered {
			fruitless = 0
		} else if fruitless++; fruitless == len(replicas) {
			return err
		}
		i = (i + 1) % len(replicas)
	}
}

// followOne follows one replica until its stream ends; a clean end (Goodbye,
// then io.EOF) returns a nil error.
func followOne(ctx context.Context, replica scaleoutpb.HubClient, after *uint64, handle func(*scaleoutpb.Message)) (delivered bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := replica.Subscribe(ctx, &scaleoutpb.SubscribeRequest{AfterSeq: *after})
	if err != nil {
		return false, err
	}
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return delivered, nil
		}
		if err != nil {
			return delivered, err
		}
		if m := ev.GetMessage(); m != nil {
			handle(m)
			*after, delivered = m.GetSeq(), true
		}
	}
}
