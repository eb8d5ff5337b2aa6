package clientstream_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/grpc-workbook/streaming/internal/harness"
	clientstream "github.com/grpc-workbook/streaming/lessons/03-client-stream"
	"github.com/grpc-workbook/streaming/lessons/03-client-stream/sensorpb"
)

const (
	task3 = "Task 3: Upload from an iterator"
	task4 = "Task 4: Write, then DoneWriting"
)

// readings turns values into Reading messages.
func readings(values ...int64) []*sensorpb.Reading {
	out := make([]*sensorpb.Reading, len(values))
	for i, v := range values {
		out[i] = &sensorpb.Reading{Decicelsius: v}
	}
	return out
}

// countingFrom yields n readings, 1, 2, 3, ..., n: a long upload that is cheap
// to make.
func countingFrom(n int64) iter.Seq[*sensorpb.Reading] {
	return func(yield func(*sensorpb.Reading) bool) {
		for v := int64(1); v <= n; v++ {
			if !yield(&sensorpb.Reading{Decicelsius: v}) {
				return
			}
		}
	}
}

func TestClientStream_UploadAll_SendsEveryReading(t *testing.T) {
	harness.See(t, task3)
	hub := &fakeHub{}
	client := startFakeHub(t, hub)

	got, err := clientstream.UploadAll(harness.Context(t), client, slices.Values(readings(5, 10, 15, 20)))
	harness.RequireOK(t, err, "UploadAll of 4 readings", task3)
	assertSummary(t, &sensorpb.Summary{Count: 4, Sum: 50}, got, "UploadAll of 4 readings", task3)
	assert.Equal(t, []int64{5, 10, 15, 20}, hub.received(),
		"the hub received (right) instead of every reading in order (left): see README.md, %q", task3)
	client.only(task3).assertClosedOnce(task3)
}

// TestClientStream_UploadAll_HubRejectsLastReading_ReportsTheStatus has the
// hub reject the last reading. Every Send has returned nil by then (Send
// only hands a message to gRPC), so only CloseAndRecv can report the failure.
func TestClientStream_UploadAll_HubRejectsLastReading_ReportsTheStatus(t *testing.T) {
	harness.See(t, task3)
	client := startFakeHub(t, &fakeHub{rejectAt: 3})

	got, err := clientstream.UploadAll(harness.Context(t), client, slices.Values(readings(1, 2, 3)))
	harness.AssertCode(t, err, codes.InvalidArgument, "UploadAll where the hub rejects reading 3 of 3", task3)
	assert.Nil(t, got, "a failed upload has no summary: see README.md, %q", task3)
	client.only(task3).assertClosedOnce(task3)
}

// TestClientStream_UploadAll_SendReturnsEOF_ReportsTheRealStatus has the hub
// reject reading 2 and makes the next Send return io.EOF, which a real Send
// does once the hub has ended the call (or returns nil, if the news has not
// arrived yet: the test removes that luck). io.EOF only says "the stream is
// over"; the reason, InvalidArgument, comes from CloseAndRecv.
func TestClientStream_UploadAll_SendReturnsEOF_ReportsTheRealStatus(t *testing.T) {
	harness.See(t, task3)
	client := startFakeHub(t, &fakeHub{rejectAt: 2})
	client.eofAfter = 2

	_, err := clientstream.UploadAll(harness.Context(t), client, countingFrom(1000))
	requireNotEOF(t, err, "UploadAll where the hub rejects reading 2", task3)
	harness.AssertCode(t, err, codes.InvalidArgument, "UploadAll where the hub rejects reading 2 and the next Send returns io.EOF", task3)

	upload := client.only(task3)
	upload.assertClosedOnce(task3)
	assert.Zero(t, upload.sendsAfterEOF,
		"Send was called %d more times after it returned io.EOF: the stream is over, so stop sending; see README.md, %q",
		upload.sendsAfterEOF, task3)
}

// TestClientStream_UploadAll_DeadlinePasses_DeadlineExceeded uploads to a hub
// that never reads. Send blocks once gRPC's flow-control window is full, and
// the call can only end at its deadline: a certain outcome, however fast or
// slow the machine is.
func TestClientStream_UploadAll_DeadlinePasses_DeadlineExceeded(t *testing.T) {
	harness.See(t, task3)
	client := startFakeHub(t, &fakeHub{stall: true})

	ctx, cancel := context.WithTimeout(harness.Context(t), 50*time.Millisecond)
	defer cancel()
	_, err := clientstream.UploadAll(ctx, client, countingFrom(100_000))
	requireNotEOF(t, err, "UploadAll with a 50ms deadline", task3)
	harness.AssertCode(t, err, codes.DeadlineExceeded, "UploadAll of 100000 readings with a 50ms deadline to a hub that never reads", task3)

	if upload := client.only(task3); upload.closeAndRecvs > 1 {
		t.Errorf("CloseAndRecv was called %d times, want at most 1: see README.md, %q", upload.closeAndRecvs, task3)
	}
}

func TestClientStream_Uploader_WriteThenDoneWriting_SendsEveryReading(t *testing.T) {
	harness.See(t, task4)
	hub := &fakeHub{}
	client := startFakeHub(t, hub)

	up, err := clientstream.NewUploader(harness.Context(t), client)
	harness.RequireOK(t, err, "NewUploader", task4)
	require.NotNil(t, up, "NewUploader returned a nil Uploader and no error: see README.md, %q", task4)
	for _, r := range readings(-30, -10, 10, 30) {
		harness.RequireOK(t, callSafely(func() error { return up.Write(r) }), "Uploader.Write", task4)
	}
	got, err := up.DoneWriting()
	harness.RequireOK(t, err, "Uploader.DoneWriting after 4 Writes", task4)
	assertSummary(t, &sensorpb.Summary{Count: 4, Sum: 0}, got, "Uploader.DoneWriting after 4 Writes", task4)
	assert.Equal(t, []int64{-30, -10, 10, 30}, hub.received(),
		"the hub received (right) instead of every written reading in order (left): see README.md, %q", task4)
	client.only(task4).assertClosedOnce(task4)
}

// TestClientStream_Uploader_WriteGetsEOF_ReportsTheRealStatus is the Uploader's
// version of the io.EOF test: Write must fetch the status then and there,
// and DoneWriting must hand back the same outcome without a second
// CloseAndRecv.
func TestClientStream_Uploader_WriteGetsEOF_ReportsTheRealStatus(t *testing.T) {
	harness.See(t, task4)
	client := startFakeHub(t, &fakeHub{rejectAt: 2})
	client.eofAfter = 2

	up, err := clientstream.NewUploader(harness.Context(t), client)
	harness.RequireOK(t, err, "NewUploader", task4)
	require.NotNil(t, up, "NewUploader returned a nil Uploader and no error: see README.md, %q", task4)
	for i, r := range readings(1, 2) {
		// Send only hands the reading to gRPC, so even the rejected one
		// (reading 2) is written without an error.
		harness.RequireOK(t, callSafely(func() error { return up.Write(r) }), fmt.Sprintf("Uploader.Write of reading %d", i+1), task4)
	}

	err = callSafely(func() error { return up.Write(&sensorpb.Reading{Decicelsius: 3}) })
	requireNotEOF(t, err, "Uploader.Write of reading 3, after the hub rejected reading 2", task4)
	harness.AssertCode(t, err, codes.InvalidArgument, "Uploader.Write of reading 3, after the hub rejected reading 2", task4)

	_, err = up.DoneWriting()
	requireNotEOF(t, err, "Uploader.DoneWriting after Write reported the rejection", task4)
	harness.AssertCode(t, err, codes.InvalidArgument, "Uploader.DoneWriting after Write reported the rejection", task4)
	client.only(task4).assertClosedOnce(task4)
}

// TestClientStream_Uploader_WriteAfterDoneWriting_Fails misuses the Uploader:
// gRPC refuses a Send after CloseSend, and so must Write. A second
// DoneWriting is harmless, like a second CloseSend.
func TestClientStream_Uploader_WriteAfterDoneWriting_Fails(t *testing.T) {
	harness.See(t, task4)
	client := startFakeHub(t, &fakeHub{})

	up, err := clientstream.NewUploader(harness.Context(t), client)
	harness.RequireOK(t, err, "NewUploader", task4)
	require.NotNil(t, up, "NewUploader returned a nil Uploader and no error: see README.md, %q", task4)
	harness.RequireOK(t, callSafely(func() error { return up.Write(&sensorpb.Reading{Decicelsius: 7}) }), "Uploader.Write", task4)
	first, err := up.DoneWriting()
	harness.RequireOK(t, err, "Uploader.DoneWriting", task4)

	err = callSafely(func() error { return up.Write(&sensorpb.Reading{Decicelsius: 8}) })
	var p panicError
	require.False(t, errors.As(err, &p), "Write after DoneWriting panicked (%v); it should return an error: see README.md, %q", err, task4)
	assert.Error(t, err, "Write after DoneWriting returned nil, so the reading is silently lost; return an error such as ErrFinished: see README.md, %q", task4)

	again, err := up.DoneWriting()
	harness.AssertCode(t, err, codes.OK, "a second Uploader.DoneWriting", task4)
	assertSummary(t, first, again, "a second Uploader.DoneWriting (want the first one's summary)", task4)
	client.only(task4).assertClosedOnce(task4)
}
