package clientstream

import (
	"context"
	"errors"
	"iter"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/lessons/03-client-stream/sensorpb"
)

// ErrFinished is what Write returns once the upload is over: after
// DoneWriting, or after an earlier Write failed. (Given.)
var ErrFinished = errors.New("clientstream: the upload is finished; no more Writes")

// UploadAll sends every reading readings yields as one Upload call, and
// returns the hub's summary, or the status the call ended with.
//
// This is the iterator style: the whole upload is known up front (a slice,
// a file, a generator), and one function sends it and collects the answer.
func UploadAll(ctx context.Context, client sensorpb.HubClient, readings iter.Seq[*sensorpb.Reading]) (*sensorpb.Summary, error) {
	// TODO(lesson 03): Task 3. Start client.Upload(ctx), Send each reading,
	// and end with CloseAndRecv, once. If Send returns io.EOF, stop sending:
	// the real status comes from CloseAndRecv. Any other error from Send is
	// the status already.
	return nil, status.Error(codes.Unimplemented, "UploadAll is not implemented yet (lesson 03, task 3)")
}

// Uploader sends readings one Write at a time, for a station that produces
// them as it goes. DoneWriting ends the upload and returns the hub's answer.
//
// An Uploader belongs to one goroutine: gRPC allows only one sender on a
// stream at a time. End every Uploader with DoneWriting (or cancel its ctx):
// until then the call holds a goroutine and its buffers.
type Uploader struct {
	// TODO(lesson 03): Task 4. Keep the stream, and what you need to call
	// CloseAndRecv only once and to remember its result.
}

// NewUploader starts an Upload call that lasts as long as ctx.
func NewUploader(ctx context.Context, client sensorpb.HubClient) (*Uploader, error) {
	// TODO(lesson 03): Task 4. Start client.Upload(ctx) and keep the stream.
	return nil, status.Error(codes.Unimplemented, "NewUploader is not implemented yet (lesson 03, task 4)")
}

// Write sends one reading. It returns nil when the reading was handed to
// gRPC (not when the hub has read it); once the stream has ended, the status
// the call ended with (or, if the hub ended it with OK, an error saying the
// reading went nowhere); and ErrFinished after the upload is over.
func (u *Uploader) Write(r *sensorpb.Reading) error {
	// TODO(lesson 03): Task 4. Send r. On io.EOF, fetch the real status with
	// CloseAndRecv (once) and return it, or an error of your own if it is OK.
	// On any other error, keep it as the outcome and return it.
	return status.Error(codes.Unimplemented, "Uploader.Write is not implemented yet (lesson 03, task 4)")
}

// DoneWriting says there are no more readings and waits for the hub's
// summary. Calling it again returns the same result, as a second CloseSend is
// harmless in gRPC.
func (u *Uploader) DoneWriting() (*sensorpb.Summary, error) {
	// TODO(lesson 03): Task 4. CloseAndRecv, unless Write already did.
	return nil, status.Error(codes.Unimplemented, "Uploader.DoneWriting is not implemented yet (lesson 03, task 4)")
}
