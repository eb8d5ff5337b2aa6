package clientstream_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/internal/harness"
	clientstream "github.com/grpc-workbook/streaming/lessons/03-client-stream"
	"github.com/grpc-workbook/streaming/lessons/03-client-stream/sensorpb"
)

// TestClientStream_Upload_SummarisesEveryReading uploads days whose right
// summary a shortcut gets wrong: Min and Max start from the first reading,
// and 0 is a reading like any other, never "not set yet".
func TestClientStream_Upload_SummarisesEveryReading(t *testing.T) {
	h := startHub(t)
	cases := []struct {
		desc   string
		values []int64
		want   *sensorpb.Summary
	}{
		// Every reading above 0: a Min that starts at 0 stays 0.
		{"a warm afternoon", []int64{215, 240, 198, 231}, &sensorpb.Summary{Count: 4, Sum: 884, Min: 198, Max: 240}},
		// Every reading below 0: a Max that starts at 0 stays 0.
		{"a cold night", []int64{-35, -120, -87}, &sensorpb.Summary{Count: 3, Sum: -242, Min: -120, Max: -35}},
		{"a single reading", []int64{42}, &sensorpb.Summary{Count: 1, Sum: 42, Min: 42, Max: 42}},
		{"a day that crosses zero", []int64{-12, 0, 37, -40, 51}, &sensorpb.Summary{Count: 5, Sum: 36, Min: -40, Max: 51}},
		// A Min of 0 is the lowest reading, not "no Min yet".
		{"a day that starts at zero", []int64{0, 12, 7}, &sensorpb.Summary{Count: 3, Sum: 19, Min: 0, Max: 12}},
		// A Max of 0 is the highest reading, not "no Max yet".
		{"a day that never gets above zero", []int64{0, -5, -3}, &sensorpb.Summary{Count: 3, Sum: -8, Min: -5, Max: 0}},
		// Readings of 0 count.
		{"a day at exactly zero", []int64{0, 0, 0}, &sensorpb.Summary{Count: 3}},
		// A Sum of 0 is not "no readings yet".
		{"a day whose sum comes back to zero", []int64{10, -10, 4}, &sensorpb.Summary{Count: 3, Sum: 4, Min: -10, Max: 10}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := uploadValues(t, h.client, tc.values...)
			requireReplied(t, err, fmt.Sprintf("Upload of %v", tc.values))
			assertSummary(t, tc.want, got, fmt.Sprintf("Upload of %v", tc.values))
		})
	}
}

// TestClientStream_Upload_NoReadings_EmptySummary uploads nothing: that is a
// valid upload, answered with an all-zero summary (Count 0 says there was
// nothing to summarise) and status OK.
func TestClientStream_Upload_NoReadings_EmptySummary(t *testing.T) {
	h := startHub(t)

	got, err := uploadValues(t, h.client) // CloseAndRecv straight away
	requireReplied(t, err, "Upload of no readings")
	assertSummary(t, &sensorpb.Summary{}, got, "Upload of no readings")
	handler := h.srv.HandlerReturned(t, "Upload")
	harness.AssertCode(t, handler.Err, codes.OK, "what the Upload handler returned after SendAndClose")
}

// TestClientStream_Upload_CallBreaks_HandlerReturnsRecvsError breaks an
// upload halfway, twice: the station hangs up (Recv fails with Canceled),
// and the station's deadline passes (a fake stream whose Recv fails with
// DeadlineExceeded). Each time the handler returns the error Recv gave it, as
// it is, and sends nothing: there is nobody left to read a summary.
func TestClientStream_Upload_CallBreaks_HandlerReturnsRecvsError(t *testing.T) {
	harness.See(t)
	t.Run("the station cancels", func(t *testing.T) {
		h := startHub(t)
		ctx, cancel := context.WithCancel(harness.Context(t))
		defer cancel()
		stream, err := h.client.Upload(ctx)
		harness.RequireOK(t, err, "starting an Upload call")
		sendValues(stream, 215, 240)
		h.waitUntilRead(t, "Upload", 2)
		cancel()

		err = harness.Wait(t, h.returned, "the Upload handler to return after the station cancelled")
		harness.AssertCode(t, err, codes.Canceled,
			"what the Upload handler returned after the station cancelled (return the error Recv gave you)")
	})
	t.Run("the station's deadline passes", func(t *testing.T) {
		stream := breakAfter[sensorpb.Reading, sensorpb.Summary](
			status.Error(codes.DeadlineExceeded, "context deadline exceeded"), readings(215, 240)...)
		var err error
		harness.Call(t, "Upload(stream) whose Recv fails with DeadlineExceeded after 2 readings",
			func() { err = clientstream.NewServer().Upload(stream) })
		harness.AssertCode(t, err, codes.DeadlineExceeded,
			"what Upload returned when Recv failed with DeadlineExceeded (return the error Recv gave you)")
		assert.Zero(t, stream.sentAndClosed, "calls to SendAndClose after Recv failed")
	})
}

// TestClientStream_Upload_OutOfRange_InvalidArgumentNamesReading sends a bad
// reading and more after it, without finishing the upload. The handler must
// end the call at once, with InvalidArgument naming the reading by its
// position (from 1) and its value.
func TestClientStream_Upload_OutOfRange_InvalidArgumentNamesReading(t *testing.T) {
	harness.See(t)
	cases := []struct {
		desc     string
		values   []int64
		position int
	}{
		{"the third reading is too hot", []int64{215, 230, clientstream.MaxDecicelsius + 1, 220}, 3},
		{"the first reading is too cold", []int64{clientstream.MinDecicelsius - 1, 20}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			h := startHub(t)
			stream, err := h.client.Upload(harness.Context(t))
			harness.RequireOK(t, err, "starting an Upload call")
			sendValues(stream, tc.values...) // and no CloseAndRecv yet: the station is still sending

			handlerErr := harness.Wait(t, h.returned,
				"the Upload handler to return as soon as it read the bad reading (the station has not finished sending)")
			harness.AssertCode(t, handlerErr, codes.InvalidArgument, "what the Upload handler returned")

			_, err = closeAndRecv(t, stream, fmt.Sprintf("Upload of %v", tc.values))
			harness.RequireCode(t, err, codes.InvalidArgument, fmt.Sprintf("Upload of %v", tc.values))
			bad := tc.values[tc.position-1]
			msg := status.Convert(err).Message()
			assert.Contains(t, msg, fmt.Sprintf("reading %d", tc.position),
				"the status message should say which reading was wrong, counting from 1")
			assert.Contains(t, msg, fmt.Sprint(bad), "the status message should say what the bad value was")
		})
	}
}

// TestClientStream_Upload_Limits_AcceptedAtTheLimitRejectedOnePast checks
// both sides of both limits: the limits themselves are readings the sensor
// can make, one past them is not.
func TestClientStream_Upload_Limits_AcceptedAtTheLimitRejectedOnePast(t *testing.T) {
	h := startHub(t)
	for _, v := range []int64{clientstream.MinDecicelsius, clientstream.MaxDecicelsius} {
		t.Run(fmt.Sprintf("%d is accepted", v), func(t *testing.T) {
			got, err := uploadValues(t, h.client, v)
			requireReplied(t, err, fmt.Sprintf("Upload of %d", v))
			assertSummary(t, &sensorpb.Summary{Count: 1, Sum: v, Min: v, Max: v}, got, fmt.Sprintf("Upload of %d", v))
		})
	}
	for _, v := range []int64{clientstream.MinDecicelsius - 1, clientstream.MaxDecicelsius + 1} {
		t.Run(fmt.Sprintf("%d is rejected", v), func(t *testing.T) {
			_, err := uploadValues(t, h.client, v)
			harness.AssertCode(t, err, codes.InvalidArgument, fmt.Sprintf("Upload of %d", v))
		})
	}
}
