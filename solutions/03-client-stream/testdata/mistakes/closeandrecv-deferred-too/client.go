// Mistake: UploadAll defers a CloseAndRecv "to be safe", as well as the
// final one.
//
// Why it is wrong: CloseAndRecv must be called once and only once; a second
// call after a successful one returns io.EOF, and a defer hides whatever it
// returns.
//
// Caught by: TestClientStream_UploadAll_SendsEveryReading

package clientstream

import (
	"context"
	"errors"
	"io"
	"iter"

	"github.com/grpc-workbook/streaming/lessons/03-client-stream/sensorpb"
)

// ErrFinished is what Write returns once the upload is over: after
// DoneWriting, or after an earlier Write failed. (Given.)
var ErrFinished = errors.New("clientstream: the upload is finished; no more Writes")

// errEndedEarly is Write's error when the hub closed the upload successfully
// before the station was done writing.
var errEndedEarly = errors.New("clientstream: the hub ended the upload before DoneWriting")

// UploadAll sends every reading readings yields as one Upload call, and
// returns the hub's summary, or the status the call ended with.
//
// This is the iterator style: the whole upload is known up front (a slice,
// a file, a generator), and one function sends it and collects the answer.
func UploadAll(ctx context.Context, client sensorpb.HubClient, readings iter.Seq[*sensorpb.Reading]) (*sensorpb.Summary, error) {
	stream, err := client.Upload(ctx)
	if err != nil {
		return nil, err
	}
	defer stream.CloseAndRecv()
	for r := range readings {
		if err := stream.Send(r); err != nil {
			if !errors.Is(err, io.EOF) {
				// gRPC refused the message on this side (too large, say):
				// that error is the status, and the stream is over.
				return nil, err
			}
			// io.EOF: the stream has ended, by the hub's doing or by ctx.
			// Stop sending; CloseAndRecv below says how it ended.
			break
		}
	}
	// Once and only once: it half-closes the stream (the hub's Recv returns
	// io.EOF) and waits for the reply or the status.
	return stream.CloseAndRecv()
}

// Uploader sends readings one Write at a time, for a station that produces
// them as it goes. DoneWriting ends the upload and returns the hub's answer.
//
// An Uploader belongs to one goroutine: gRPC allows only one sender on a
// stream at a time. End every Uploader with DoneWriting (or cancel its ctx):
// until then the call holds a goroutine and its buffers.
type Uploader struct {
	stream sensorpb.Hub_UploadClient

	finished bool              // CloseAndRecv was called, or Send failed
	summary  *sensorpb.Summary // the outcome, once finished
	err      error
}

// NewUploader starts an Upload call that lasts as long as ctx.
func NewUploader(ctx context.Context, client sensorpb.HubClient) (*Uploader, error) {
	stream, err := client.Upload(ctx)
	if err != nil {
		return nil, err
	}
	return &Uploader{stream: stream}, nil
}

// Write sends one reading. It returns nil when the reading was handed to
// gRPC (not when the hub has read it); once the stream has ended, the status
// the call ended with (or, if the hub ended it with OK, an error saying the
// reading went nowhere); and ErrFinished after the upload is over.
func (u *Uploader) Write(r *sensorpb.Reading) error {
	if u.finished {
		// Sending after CloseSend is an error in gRPC too (codes.Internal,
		// "SendMsg called after CloseSend"); saying so here is clearer.
		return ErrFinished
	}
	err := u.stream.Send(r)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.EOF):
		// The stream has ended: the hub ended it, or ctx did. How it ended
		// is in the status, which only CloseAndRecv can tell.
		if _, err := u.finish(); err != nil {
			return err
		}
		return errEndedEarly
	default:
		// A client-side error is the status, and the stream is already over:
		// no CloseAndRecv needed (see the ClientConn.NewStream docs).
		u.finished, u.err = true, err
		return err
	}
}

// DoneWriting says there are no more readings and waits for the hub's
// summary. Calling it again returns the same result, as a second CloseSend is
// harmless in gRPC.
func (u *Uploader) DoneWriting() (*sensorpb.Summary, error) {
	return u.finish()
}

// finish calls CloseAndRecv the first time, and remembers what it returned.
func (u *Uploader) finish() (*sensorpb.Summary, error) {
	if !u.finished {
		u.finished = true
		u.summary, u.err = u.stream.CloseAndRecv()
	}
	return u.summary, u.err
}
