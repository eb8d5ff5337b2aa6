package clientstream_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/internal/harness"
	"github.com/grpc-workbook/streaming/lessons/03-client-stream/sensorpb"
)

// fakeHub is the test's own Hub, so that the client tests (Tasks 3 and 4)
// depend on your client code alone. Its summary has only Count and Sum.
type fakeHub struct {
	sensorpb.UnimplementedHubServer

	rejectAt int64 // reject the reading at this position (from 1) with InvalidArgument; 0 never
	stall    bool  // read nothing and wait for the call to end, like a hub that is far too slow

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

// spyHub is a HubClient that wraps the real one to watch how your code uses
// the Upload stream: how often it calls Send and CloseAndRecv, and in what
// order.
type spyHub struct {
	sensorpb.HubClient

	t   *testing.T
	srv *harness.Server
	// eofAfter makes every Send after the first eofAfter ones return io.EOF,
	// as a real Send does once the hub has ended the call. The spy first
	// waits for the hub's handler to return, so the status is on its way.
	// 0 leaves Send alone.
	eofAfter int

	uploads []*spyUpload // one per Upload call
}

// spyUpload counts what happens to one Upload stream.
type spyUpload struct {
	sensorpb.Hub_UploadClient
	hub *spyHub

	sends         int  // calls to Send
	closeAndRecvs int  // calls to CloseAndRecv
	eofReturned   bool // Send has returned io.EOF
	sendsAfterEOF int  // calls to Send after it returned io.EOF
}

// startFakeHub serves hub in memory and returns a spying client for it.
func startFakeHub(t *testing.T, hub *fakeHub) *spyHub {
	t.Helper()
	srv := harness.Start(t, func(s *grpc.Server) { sensorpb.RegisterHubServer(s, hub) })
	return &spyHub{HubClient: sensorpb.NewHubClient(srv.Conn), t: t, srv: srv}
}

func (c *spyHub) Upload(ctx context.Context, opts ...grpc.CallOption) (sensorpb.Hub_UploadClient, error) {
	if _, ok := ctx.Deadline(); !ok {
		// Every test passes a context with a deadline; without one, a stuck
		// upload would hang the test instead of failing it.
		c.t.Errorf("Upload was called with a context that has no deadline: pass on the ctx you were given, so the "+
			"caller's deadline and cancel reach the call; see README.md, %q", task3)
		return nil, status.Error(codes.FailedPrecondition, "the test refused an Upload call without the caller's context")
	}
	stream, err := c.HubClient.Upload(ctx, opts...)
	if err != nil {
		return nil, err
	}
	u := &spyUpload{Hub_UploadClient: stream, hub: c}
	c.uploads = append(c.uploads, u)
	return u, nil
}

func (u *spyUpload) Send(r *sensorpb.Reading) error {
	u.sends++
	if u.hub.eofAfter == 0 || u.sends <= u.hub.eofAfter {
		return u.Hub_UploadClient.Send(r)
	}
	if u.eofReturned {
		u.sendsAfterEOF++
		return io.EOF
	}
	u.hub.srv.HandlerReturned(u.hub.t, "Upload")
	u.eofReturned = true
	return io.EOF
}

func (u *spyUpload) CloseAndRecv() (*sensorpb.Summary, error) {
	u.closeAndRecvs++
	return u.Hub_UploadClient.CloseAndRecv()
}

// only returns the one Upload stream the code under test opened.
func (c *spyHub) only(see string) *spyUpload {
	c.t.Helper()
	if len(c.uploads) != 1 {
		c.t.Fatalf("got %d Upload calls, want 1: one upload is one call; see README.md, %q", len(c.uploads), see)
	}
	return c.uploads[0]
}

// assertClosedOnce checks that CloseAndRecv was called exactly once.
func (u *spyUpload) assertClosedOnce(see string) {
	u.hub.t.Helper()
	if u.closeAndRecvs != 1 {
		u.hub.t.Errorf("CloseAndRecv was called %d times, want exactly 1: it half-closes the stream and "+
			"collects the one reply or the status, and grpc-go says to call it once and only once; see README.md, %q",
			u.closeAndRecvs, see)
	}
}

// callSafely runs f and turns a panic into an error, so a crash in the code
// under test fails one test instead of the whole package.
func callSafely(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = panicError{p}
		}
	}()
	return f()
}

type panicError struct{ value any }

func (p panicError) Error() string { return fmt.Sprint("panic: ", p.value) }

// requireNotEOF stops the test if the code under test passed on Send's
// io.EOF instead of the status behind it.
func requireNotEOF(t *testing.T, err error, call, see string) {
	t.Helper()
	if errors.Is(err, io.EOF) {
		t.Fatalf("%s: got io.EOF. Send returns io.EOF when the hub has ended the call; it says nothing about why. "+
			"Call CloseAndRecv (once) and return its status instead: see README.md, %q.", call, see)
	}
}
