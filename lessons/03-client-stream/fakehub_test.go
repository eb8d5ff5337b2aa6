package clientstream_test

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/internal/harness"
	"github.com/grpc-workbook/streaming/lessons/03-client-stream/sensorpb"
)

// The client tests (Tasks 3 and 4) talk to a hub of the test's own, so they
// depend on your client code alone, through a HubClient that watches how your
// code uses the Upload stream.

// fakeHub is the test's Hub. Its summary has only Count and Sum.
type fakeHub struct {
	sensorpb.UnimplementedHubServer

	rejectAt   int64 // reject the reading at this position (from 1) with InvalidArgument; 0: never
	replyAfter int64 // answer OK after this many readings, without reading the rest; 0: never
	stall      bool  // read nothing and wait for the call to end, like a hub that is far too slow

	mu  sync.Mutex
	got []int64 // the values of the readings it accepted, in order
}

func (h *fakeHub) Upload(stream sensorpb.Hub_UploadServer) error {
	if h.stall {
		<-stream.Context().Done()
		return status.FromContextError(stream.Context().Err()).Err()
	}
	summary := &sensorpb.Summary{}
	for {
		if summary.Count == h.replyAfter && h.replyAfter > 0 {
			return stream.SendAndClose(summary)
		}
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(summary)
		}
		if err != nil {
			return err
		}
		if summary.Count+1 == h.rejectAt {
			return status.Errorf(codes.InvalidArgument, "reading %d: rejected by the test's hub", h.rejectAt)
		}
		summary.Count++
		summary.Sum += r.GetDecicelsius()
		h.mu.Lock()
		h.got = append(h.got, r.GetDecicelsius())
		h.mu.Unlock()
	}
}

// received returns the values the hub accepted.
func (h *fakeHub) received() []int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int64(nil), h.got...)
}

// spyHub is a HubClient that wraps a real one to watch how your code uses
// the Upload stream: how often it calls Send and CloseAndRecv, and whether it
// goes on sending after Send failed. Your code calls it on its own goroutine
// (harness.Call), so it reports problems with t.Errorf, never t.Fatal.
type spyHub struct {
	sensorpb.HubClient
	t *testing.T

	// eofAfter makes every Send after the first eofAfter ones return io.EOF
	// without sending, as a real Send does once the hub has ended the call
	// (a real one may still return nil for a while: the spy takes that luck
	// out). 0 leaves Send alone.
	eofAfter int
	// maxMessageBytes, if not 0, limits the call's messages to that many
	// bytes (grpc.MaxCallSendMsgSize), so that gRPC's own Send refuses a
	// larger reading with codes.ResourceExhausted: an error the client
	// makes itself.
	maxMessageBytes int

	mu      sync.Mutex
	uploads []*spyUpload // one per Upload call
}

// spyUpload counts what happens to one Upload stream.
type spyUpload struct {
	sensorpb.Hub_UploadClient
	hub *spyHub

	sends          int   // calls to Send
	closeAndRecvs  int   // calls to CloseAndRecv
	sendErr        error // the first error Send returned
	sendsAfterFail int   // calls to Send after it had returned an error
}

// startFakeHub serves hub in memory and returns a spying client for it.
func startFakeHub(t *testing.T, hub *fakeHub) *spyHub {
	t.Helper()
	srv := harness.Start(t, func(s *grpc.Server) { sensorpb.RegisterHubServer(s, hub) })
	return &spyHub{HubClient: sensorpb.NewHubClient(srv.Conn), t: t}
}

func (c *spyHub) Upload(ctx context.Context, opts ...grpc.CallOption) (sensorpb.Hub_UploadClient, error) {
	if _, ok := ctx.Deadline(); !ok {
		// Every test passes a context with a deadline. One without is not
		// the caller's: its cancel and deadline would never reach the call.
		c.t.Errorf("Upload was called with a context that has no deadline, so it is not the one the caller passed " +
			"in: call client.Upload(ctx) with the ctx you were given, so that the caller can cancel the upload")
		return nil, status.Error(codes.FailedPrecondition, "the test refused an Upload call that ignores the caller's context")
	}
	if c.maxMessageBytes > 0 {
		opts = append(opts, grpc.MaxCallSendMsgSize(c.maxMessageBytes))
	}
	u := &spyUpload{hub: c}
	c.mu.Lock()
	c.uploads = append(c.uploads, u) // a call that fails to start still counts as one
	c.mu.Unlock()
	stream, err := c.HubClient.Upload(ctx, opts...)
	if err != nil {
		return nil, err
	}
	u.Hub_UploadClient = stream
	return u, nil
}

func (u *spyUpload) Send(r *sensorpb.Reading) error {
	u.hub.mu.Lock()
	u.sends++
	n, failed := u.sends, u.sendErr != nil
	if failed {
		u.sendsAfterFail++
	}
	u.hub.mu.Unlock()

	var err error
	if u.hub.eofAfter > 0 && n > u.hub.eofAfter {
		err = io.EOF
	} else {
		err = u.Hub_UploadClient.Send(r)
	}
	if err != nil && !failed {
		u.hub.mu.Lock()
		u.sendErr = err
		u.hub.mu.Unlock()
	}
	return err
}

func (u *spyUpload) CloseAndRecv() (*sensorpb.Summary, error) {
	u.hub.mu.Lock()
	u.closeAndRecvs++
	u.hub.mu.Unlock()
	return u.Hub_UploadClient.CloseAndRecv()
}

// only returns the one Upload stream the code under test opened.
func (c *spyHub) only() *spyUpload {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.uploads) != 1 {
		c.t.Fatalf("your code made %d Upload calls, want 1: one upload is one call", len(c.uploads))
	}
	return c.uploads[0]
}

// assertClosedOnce checks that CloseAndRecv was called exactly once.
func (u *spyUpload) assertClosedOnce() {
	u.hub.t.Helper()
	u.hub.mu.Lock()
	defer u.hub.mu.Unlock()
	if u.closeAndRecvs != 1 {
		u.hub.t.Errorf("CloseAndRecv was called %d times, want exactly 1: it half-closes the stream and collects "+
			"the one reply or the status, and grpc-go says to call it once and only once", u.closeAndRecvs)
	}
}

// assertClosedAtMostOnce is assertClosedOnce for a stream that Send has
// already ended: calling CloseAndRecv then is not needed, but harmless once.
func (u *spyUpload) assertClosedAtMostOnce() {
	u.hub.t.Helper()
	u.hub.mu.Lock()
	defer u.hub.mu.Unlock()
	if u.closeAndRecvs > 1 {
		u.hub.t.Errorf("CloseAndRecv was called %d times, want at most 1: grpc-go says to call it once and only once",
			u.closeAndRecvs)
	}
}

// assertStoppedSending checks that Send was never called again after it
// returned an error.
func (u *spyUpload) assertStoppedSending() {
	u.hub.t.Helper()
	u.hub.mu.Lock()
	defer u.hub.mu.Unlock()
	if u.sendErr == nil {
		u.hub.t.Errorf("Send never returned an error, but the test made it fail: does your code call Send?")
		return
	}
	if u.sendsAfterFail > 0 {
		u.hub.t.Errorf("Send returned %s, and your code called it %d more times: a failed Send has ended the "+
			"stream, so stop sending", harness.Describe(u.sendErr), u.sendsAfterFail)
	}
}
