package scaleout

import (
	"context"

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
	// TODO(lesson 08): Task 6. Loop: followOne on replicas[i]; return
	// ctx.Err() when ctx has ended and any error but Unavailable as it is;
	// otherwise move on to the next replica. Give up with the last error once
	// every replica in a row has delivered nothing.
	return status.Error(codes.Unimplemented, "Follow is not implemented yet (lesson 08, task 6)")
}

// followOne follows one replica until its stream ends; a clean end (Goodbye,
// then io.EOF) returns a nil error.
func followOne(ctx context.Context, replica scaleoutpb.HubClient, after *uint64, handle func(*scaleoutpb.Message)) (delivered bool, err error) {
	// TODO(lesson 08): Task 6. Subscribe after *after with a context you
	// cancel on return; Recv until io.EOF (a nil error) or an error; handle
	// each Message and move *after to it.
	return false, status.Error(codes.Unimplemented, "followOne is not implemented yet (lesson 08, task 6)")
}
