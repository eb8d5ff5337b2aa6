package clientstream_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/grpc-workbook/streaming/internal/harness"
	clientstream "github.com/grpc-workbook/streaming/lessons/03-client-stream"
	"github.com/grpc-workbook/streaming/lessons/03-client-stream/sensorpb"
)

const (
	task1 = "Task 1: Summarise an upload"
	task2 = "Task 2: Reject a bad reading"
)

// startHub serves your Server in memory and returns a client for it.
func startHub(t *testing.T) (sensorpb.HubClient, *harness.Server, *clientstream.Server) {
	t.Helper()
	hub := clientstream.NewServer()
	srv := harness.Start(t, func(s *grpc.Server) { sensorpb.RegisterHubServer(s, hub) })
	return sensorpb.NewHubClient(srv.Conn), srv, hub
}

// uploadValues sends values to the hub as one Upload call and returns its
// outcome. It ignores Send's errors on purpose: this test only needs the final
// status, which CloseAndRecv reports. Task 3 shows how a real client should
// treat them.
func uploadValues(t *testing.T, client sensorpb.HubClient, values ...int64) (*sensorpb.Summary, error) {
	t.Helper()
	stream, err := client.Upload(harness.Context(t))
	harness.RequireOK(t, err, "starting an Upload call", task1)
	for _, v := range values {
		_ = stream.Send(&sensorpb.Reading{Decicelsius: v})
	}
	return stream.CloseAndRecv()
}

// requireReplied stops the test unless an Upload call succeeded. A handler
// that returns nil without SendAndClose gets its own explanation.
func requireReplied(t *testing.T, err error, call, see string) {
	t.Helper()
	if s := status.Convert(err); err != nil && s.Code() == codes.Internal {
		t.Fatalf("%s: got codes.Internal (%q), want a reply.\nThe handler returned without sending one. A client-streaming "+
			"handler ends with `return stream.SendAndClose(reply)` once Recv says io.EOF: see README.md, %q.", call, s.Message(), see)
	}
	harness.RequireOK(t, err, call, see)
}

func TestClientStream_Upload_SummarisesEveryReading(t *testing.T) {
	harness.See(t, task1)
	client, _, _ := startHub(t)
	cases := []struct {
		desc   string
		values []int64
		want   *sensorpb.Summary
	}{
		// Warm: every reading is above 0, so a min that starts at 0 is wrong.
		{"a warm afternoon", []int64{215, 240, 198, 231},
			&sensorpb.Summary{Count: 4, Sum: 884, Min: 198, Max: 240}},
		// Cold: every reading is below 0, so a max that starts at 0 is wrong.
		{"a cold night", []int64{-35, -120, -87},
			&sensorpb.Summary{Count: 3, Sum: -242, Min: -120, Max: -35}},
		{"a single reading", []int64{42},
			&sensorpb.Summary{Count: 1, Sum: 42, Min: 42, Max: 42}},
		{"a day that crosses zero", []int64{-12, 0, 37, -40, 51},
			&sensorpb.Summary{Count: 5, Sum: 36, Min: -40, Max: 51}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := uploadValues(t, client, tc.values...)
			requireReplied(t, err, "Upload of "+tc.desc, task1)
			assertSummary(t, tc.want, got, fmt.Sprintf("Upload of %v", tc.values), task1)
		})
	}
}

func TestClientStream_Upload_NoReadings_EmptySummary(t *testing.T) {
	harness.See(t, task1)
	client, srv, _ := startHub(t)

	got, err := uploadValues(t, client) // CloseAndRecv straight away
	requireReplied(t, err, "Upload with no readings", task1)
	assertSummary(t, &sensorpb.Summary{}, got, "Upload with no readings", task1)
	handler := srv.HandlerReturned(t, "Upload")
	harness.AssertCode(t, handler.Err, codes.OK, "the Upload handler's returned error after SendAndClose", task1)
}

func TestClientStream_Upload_OutOfRange_InvalidArgumentNamesReading(t *testing.T) {
	harness.See(t, task2)
	client, srv, _ := startHub(t)
	cases := []struct {
		desc     string
		values   []int64
		position string // how the status message must name the bad reading
	}{
		{"the third reading is too hot", []int64{215, 230, clientstream.MaxDecicelsius + 1, 220}, "reading 3"},
		{"the first reading is too cold", []int64{clientstream.MinDecicelsius - 1, 20}, "reading 1"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := uploadValues(t, client, tc.values...)
			harness.RequireCode(t, err, codes.InvalidArgument, "Upload where "+tc.desc, task2)
			assert.Contains(t, status.Convert(err).Message(), tc.position,
				"the status message should say which reading was wrong, counting from 1: see README.md, %q", task2)

			handler := srv.HandlerReturned(t, "Upload")
			harness.AssertCode(t, handler.Err, codes.InvalidArgument, "the Upload handler's returned error", task2)
		})
	}
	t.Run("the limits themselves are allowed", func(t *testing.T) {
		got, err := uploadValues(t, client, clientstream.MinDecicelsius, clientstream.MaxDecicelsius)
		requireReplied(t, err, "Upload of exactly MinDecicelsius and MaxDecicelsius", task2)
		assert.Equal(t, int64(2), got.GetCount(), "both readings at the limits should count: see README.md, %q", task2)
	})
}

// assertSummary compares two summaries as protobuf messages.
func assertSummary(t *testing.T, want, got *sensorpb.Summary, call, see string) bool {
	t.Helper()
	if proto.Equal(want, got) {
		return true
	}
	t.Errorf("%s: got summary {%s}, want {%s}: see README.md, %q", call, text(got), text(want), see)
	return false
}

// text renders a message on one line; a nil message shows as "nil".
func text(m proto.Message) string {
	if m == nil || !m.ProtoReflect().IsValid() {
		return "nil"
	}
	return prototext.MarshalOptions{}.Format(m)
}
