package clientstream_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"google.golang.org/grpc/codes"

	"github.com/grpc-workbook/streaming/internal/harness"
	clientstream "github.com/grpc-workbook/streaming/lessons/03-client-stream"
	"github.com/grpc-workbook/streaming/lessons/03-client-stream/sensorpb"
)

// huge is a reading too big for a call limited to 4-byte messages (the spy's
// maxMessageBytes): 1, 2 and 3 take 2 bytes, this one 7. gRPC's own Send
// refuses it with codes.ResourceExhausted, an error the client makes itself.
const huge = 1 << 40

func TestClientStream_UploadAll_SendsEveryReading(t *testing.T) {
	hub := &fakeHub{}
	client := startFakeHub(t, hub)

	got, err := uploadAll(t, "UploadAll of 4 readings", harness.Context(t), client, slices.Values(readings(5, 10, 15, 20)))
	harness.RequireOK(t, err, "UploadAll of 4 readings")
	assertSummary(t, &sensorpb.Summary{Count: 4, Sum: 50}, got, "UploadAll of 4 readings")
	assert.Equal(t, []int64{5, 10, 15, 20}, hub.received(), "the readings the hub received, in order")
	client.only().assertClosedOnce()
}

// TestClientStream_UploadAll_NoReadings_ReturnsTheHubsSummary uploads an
// empty sequence: still one call, and the hub's answer to it (Count 0).
func TestClientStream_UploadAll_NoReadings_ReturnsTheHubsSummary(t *testing.T) {
	client := startFakeHub(t, &fakeHub{})

	got, err := uploadAll(t, "UploadAll of no readings", harness.Context(t), client, slices.Values(readings()))
	harness.RequireOK(t, err, "UploadAll of no readings")
	assertSummary(t, &sensorpb.Summary{}, got, "UploadAll of no readings")
	client.only().assertClosedOnce()
}

// TestClientStream_UploadAll_HubRejectsLastReading_ReportsTheStatus has the
// hub reject the last reading. Every Send has returned nil by then (Send
// only hands a message to gRPC), so only CloseAndRecv can report the failure.
func TestClientStream_UploadAll_HubRejectsLastReading_ReportsTheStatus(t *testing.T) {
	client := startFakeHub(t, &fakeHub{rejectAt: 3})

	got, err := uploadAll(t, "UploadAll of 3 readings", harness.Context(t), client, slices.Values(readings(1, 2, 3)))
	harness.AssertCode(t, err, codes.InvalidArgument, "UploadAll where the hub rejects reading 3 of 3")
	assert.Nil(t, got, "the summary of a failed upload (there is none)")
	client.only().assertClosedOnce()
}

// TestClientStream_UploadAll_SendReturnsEOF_ReportsTheRealStatus has the hub
// reject reading 2 and makes the next Send return io.EOF, as a real Send does
// once the news has arrived. io.EOF only says "the stream is over"; the
// reason, InvalidArgument, comes from CloseAndRecv.
func TestClientStream_UploadAll_SendReturnsEOF_ReportsTheRealStatus(t *testing.T) {
	client := startFakeHub(t, &fakeHub{rejectAt: 2})
	client.eofAfter = 2

	_, err := uploadAll(t, "UploadAll of 1000 readings", harness.Context(t), client, counting(1000, 0, nil))
	requireNotEOF(t, err, "UploadAll where the hub rejects reading 2")
	harness.AssertCode(t, err, codes.InvalidArgument, "UploadAll where the hub rejects reading 2 and the next Send returns io.EOF")

	upload := client.only()
	upload.assertClosedOnce()
	upload.assertStoppedSending()
}

// TestClientStream_UploadAll_HubEndsEarlyWithOK_ReturnsItsSummary has the
// hub answer after 2 of 1000 readings, with status OK. Send returns io.EOF
// then too; CloseAndRecv brings the hub's summary, which UploadAll returns:
// its Count says how many readings the hub took.
func TestClientStream_UploadAll_HubEndsEarlyWithOK_ReturnsItsSummary(t *testing.T) {
	client := startFakeHub(t, &fakeHub{replyAfter: 2})
	client.eofAfter = 2

	got, err := uploadAll(t, "UploadAll of 1000 readings", harness.Context(t), client, counting(1000, 0, nil))
	requireNotEOF(t, err, "UploadAll where the hub answers after reading 2")
	harness.RequireOK(t, err, "UploadAll where the hub answers OK after reading 2")
	assertSummary(t, &sensorpb.Summary{Count: 2, Sum: 3}, got, "UploadAll where the hub answers after reading 2")

	upload := client.only()
	upload.assertClosedOnce()
	upload.assertStoppedSending()
}

// TestClientStream_UploadAll_SendFails_ReturnsThatStatus makes gRPC's own
// Send fail on reading 3: it is too big for the call's message limit. An
// error the client makes itself comes back from Send as the status (here
// ResourceExhausted) and has already ended the stream: return it, and send
// nothing more.
func TestClientStream_UploadAll_SendFails_ReturnsThatStatus(t *testing.T) {
	client := startFakeHub(t, &fakeHub{})
	client.maxMessageBytes = 4

	_, err := uploadAll(t, "UploadAll of 5 readings", harness.Context(t), client, slices.Values(readings(1, 2, huge, 4, 5)))
	harness.AssertCode(t, err, codes.ResourceExhausted, "UploadAll where Send refuses reading 3")

	upload := client.only()
	upload.assertStoppedSending()
	upload.assertClosedAtMostOnce()
}

// TestClientStream_UploadAll_CallerCancels_Canceled cancels the caller's
// context after reading 3, while the iterator still has readings to give and
// the hub still reads none. Send returns io.EOF once the cancel has ended the
// stream (the client's own cancel too: any failed write is io.EOF), and
// CloseAndRecv reports Canceled. A call started on any context but ctx would
// never notice the cancel.
func TestClientStream_UploadAll_CallerCancels_Canceled(t *testing.T) {
	client := startFakeHub(t, &fakeHub{stall: true})

	ctx, cancel := context.WithCancel(harness.Context(t))
	defer cancel()
	_, err := uploadAll(t, "UploadAll(ctx, ...), whose ctx the caller cancelled after reading 3 of 100000,", ctx, client, counting(100_000, 3, cancel))
	requireNotEOF(t, err, "UploadAll whose caller cancelled")
	harness.AssertCode(t, err, codes.Canceled, "UploadAll whose caller cancelled after reading 3")
	client.only().assertClosedAtMostOnce()
}

// TestClientStream_UploadAll_DeadlinePasses_DeadlineExceeded uploads to a hub
// that never reads. Send blocks once gRPC's flow-control window is full, and
// returns io.EOF when the deadline passes; CloseAndRecv reports
// DeadlineExceeded. A certain outcome, however fast or slow the machine is.
func TestClientStream_UploadAll_DeadlinePasses_DeadlineExceeded(t *testing.T) {
	client := startFakeHub(t, &fakeHub{stall: true})

	ctx, cancel := context.WithTimeout(harness.Context(t), 50*time.Millisecond)
	defer cancel()
	_, err := uploadAll(t, "UploadAll(ctx, ...) of 100000 readings with a 50ms deadline", ctx, client, counting(100_000, 0, nil))
	requireNotEOF(t, err, "UploadAll with a 50ms deadline")
	harness.AssertCode(t, err, codes.DeadlineExceeded, "UploadAll of 100000 readings with a 50ms deadline to a hub that never reads")
	client.only().assertClosedAtMostOnce()
}

func TestClientStream_Uploader_WriteThenDoneWriting_SendsEveryReading(t *testing.T) {
	hub := &fakeHub{}
	client := startFakeHub(t, hub)

	up := newUploader(t, harness.Context(t), client)
	for _, v := range []int64{-30, -10, 0, 10, 30} {
		harness.RequireOK(t, write(t, up, v), "up.Write")
	}
	got, err := doneWriting(t, up)
	harness.RequireOK(t, err, "up.DoneWriting() after 5 Writes")
	assertSummary(t, &sensorpb.Summary{Count: 5, Sum: 0}, got, "up.DoneWriting() after 5 Writes")
	assert.Equal(t, []int64{-30, -10, 0, 10, 30}, hub.received(), "the readings the hub received, in order")
	client.only().assertClosedOnce()
}

// TestClientStream_Uploader_NoWrites_ReturnsTheHubsSummary calls DoneWriting
// straight after NewUploader: an empty upload, still one call.
func TestClientStream_Uploader_NoWrites_ReturnsTheHubsSummary(t *testing.T) {
	client := startFakeHub(t, &fakeHub{})

	up := newUploader(t, harness.Context(t), client)
	got, err := doneWriting(t, up)
	harness.RequireOK(t, err, "up.DoneWriting() with no Writes")
	assertSummary(t, &sensorpb.Summary{}, got, "up.DoneWriting() with no Writes")
	client.only().assertClosedOnce()
}

// TestClientStream_Uploader_WriteGetsEOF_ReportsTheRealStatus is the
// Uploader's version of the io.EOF test: Write must fetch the status then and
// there, DoneWriting must hand back the same outcome without a second
// CloseAndRecv, and a Write after that must not touch the stream.
func TestClientStream_Uploader_WriteGetsEOF_ReportsTheRealStatus(t *testing.T) {
	client := startFakeHub(t, &fakeHub{rejectAt: 2})
	client.eofAfter = 2

	up := newUploader(t, harness.Context(t), client)
	// Send only hands the reading to gRPC, so even the rejected one
	// (reading 2) is written without an error.
	harness.RequireOK(t, write(t, up, 1), "up.Write of reading 1")
	harness.RequireOK(t, write(t, up, 2), "up.Write of reading 2")

	err := write(t, up, 3)
	requireNotEOF(t, err, "up.Write of reading 3, after the hub rejected reading 2")
	harness.AssertCode(t, err, codes.InvalidArgument, "up.Write of reading 3, after the hub rejected reading 2")

	_, err = doneWriting(t, up)
	requireNotEOF(t, err, "up.DoneWriting() after Write reported the rejection")
	harness.AssertCode(t, err, codes.InvalidArgument, "up.DoneWriting() after Write reported the rejection")

	assert.ErrorIs(t, write(t, up, 4), clientstream.ErrFinished, "up.Write after the upload ended")
	upload := client.only()
	upload.assertClosedOnce()
	upload.assertStoppedSending()
}

// TestClientStream_Uploader_HubEndsEarlyWithOK_WriteFails has the hub answer
// OK after 1 reading. The next Write gets io.EOF from Send: the reading went
// nowhere, so Write returns an error of its own (never nil, never io.EOF),
// while DoneWriting returns the hub's summary, the call's real outcome.
func TestClientStream_Uploader_HubEndsEarlyWithOK_WriteFails(t *testing.T) {
	client := startFakeHub(t, &fakeHub{replyAfter: 1})
	client.eofAfter = 1

	up := newUploader(t, harness.Context(t), client)
	harness.RequireOK(t, write(t, up, 7), "up.Write of reading 1")
	err := write(t, up, 8)
	requireNotEOF(t, err, "up.Write of reading 2, after the hub answered")
	assert.Error(t, err, "up.Write of reading 2, after the hub answered OK: Send failed, so the reading went "+
		"nowhere; return an error that says the hub ended the upload")

	got, err := doneWriting(t, up)
	harness.RequireOK(t, err, "up.DoneWriting() after the hub answered OK")
	assertSummary(t, &sensorpb.Summary{Count: 1, Sum: 7}, got, "up.DoneWriting() after the hub answered OK after reading 1")
	client.only().assertClosedOnce()
}

// TestClientStream_Uploader_SendFails_WriteReturnsThatStatus makes gRPC's own
// Send refuse reading 3 (too big for the call's message limit). Write returns
// that status, the stream is over, and the Uploader remembers it: DoneWriting
// returns the same status, a later Write returns ErrFinished.
func TestClientStream_Uploader_SendFails_WriteReturnsThatStatus(t *testing.T) {
	client := startFakeHub(t, &fakeHub{})
	client.maxMessageBytes = 4

	up := newUploader(t, harness.Context(t), client)
	harness.RequireOK(t, write(t, up, 1), "up.Write of reading 1")
	harness.RequireOK(t, write(t, up, 2), "up.Write of reading 2")
	harness.AssertCode(t, write(t, up, huge), codes.ResourceExhausted, "up.Write of a reading too big for the call")
	assert.ErrorIs(t, write(t, up, 4), clientstream.ErrFinished, "up.Write after a Write failed")

	_, err := doneWriting(t, up)
	harness.AssertCode(t, err, codes.ResourceExhausted, "up.DoneWriting() after Write failed (the outcome Write kept)")
	upload := client.only()
	upload.assertStoppedSending()
	upload.assertClosedAtMostOnce()
}

// TestClientStream_Uploader_CallerCancels_Canceled cancels the context
// NewUploader was given, after two Writes, to a hub that reads nothing.
// DoneWriting reports Canceled: the call lasts as long as ctx, not longer.
func TestClientStream_Uploader_CallerCancels_Canceled(t *testing.T) {
	client := startFakeHub(t, &fakeHub{stall: true})

	ctx, cancel := context.WithCancel(harness.Context(t))
	defer cancel()
	up := newUploader(t, ctx, client)
	harness.RequireOK(t, write(t, up, 1), "up.Write of reading 1")
	harness.RequireOK(t, write(t, up, 2), "up.Write of reading 2")
	cancel()

	_, err := doneWriting(t, up)
	requireNotEOF(t, err, "up.DoneWriting() after the caller cancelled")
	harness.AssertCode(t, err, codes.Canceled, "up.DoneWriting() after the caller cancelled")
	client.only().assertClosedOnce()
}

// TestClientStream_Uploader_WriteAfterDoneWriting_Fails misuses the Uploader:
// gRPC refuses a Send after CloseSend, and Write refuses it first, with
// ErrFinished, without touching the stream. A second DoneWriting is
// harmless, like a second CloseSend: it returns the first one's result.
func TestClientStream_Uploader_WriteAfterDoneWriting_Fails(t *testing.T) {
	client := startFakeHub(t, &fakeHub{})

	up := newUploader(t, harness.Context(t), client)
	harness.RequireOK(t, write(t, up, 7), "up.Write")
	first, err := doneWriting(t, up)
	harness.RequireOK(t, err, "up.DoneWriting()")

	err = write(t, up, 8)
	assert.ErrorIs(t, err, clientstream.ErrFinished,
		"up.Write after DoneWriting (nil would mean the reading is silently lost)")

	again, err := doneWriting(t, up)
	harness.AssertCode(t, err, codes.OK, "a second up.DoneWriting()")
	assertSummary(t, first, again, "a second up.DoneWriting() (want the first one's summary)")
	upload := client.only()
	upload.assertClosedOnce()
	if upload.sends != 1 {
		t.Errorf("Send was called %d times for 1 reading written before DoneWriting: Write after DoneWriting must "+
			"not touch the stream", upload.sends)
	}
}
