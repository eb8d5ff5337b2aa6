package serverstream_test

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/internal/harness"
	serverstream "github.com/grpc-workbook/streaming/lessons/02-server-stream"
	"github.com/grpc-workbook/streaming/lessons/02-server-stream/logpb"
)

func TestServerStream_ReadAll_EOFIsSuccess(t *testing.T) {
	harness.See(t, task2)
	want := numbered("compiling", "linking", "done")
	client, _ := startScripted(t, &scriptedLogs{lines: want})

	stream, err := client.Replay(harness.Context(t), &logpb.ReplayRequest{})
	harness.RequireOK(t, err, "opening Replay", task2)
	got, err := serverstream.ReadAll(stream)

	harness.AssertCode(t, err, codes.OK, "ReadAll on a stream of 3 lines that ends with OK", task2)
	if diff := linesDiff(want, got); diff != "" {
		t.Errorf("ReadAll: %s; see README.md, %q", diff, task2)
	}
}

func TestServerStream_ReadAll_Failure_KeepsEarlierLines(t *testing.T) {
	harness.See(t, task2)
	want := numbered("compiling", "linking")
	client, _ := startScripted(t, &scriptedLogs{lines: want, end: status.Error(codes.Aborted, "build cancelled")})

	stream, err := client.Replay(harness.Context(t), &logpb.ReplayRequest{})
	harness.RequireOK(t, err, "opening Replay", task2)
	got, err := serverstream.ReadAll(stream)

	assertStreamError(t, err, codes.Aborted, "ReadAll on a stream of 2 lines that then fails with Aborted", task2)
	if diff := linesDiff(want, got); diff != "" {
		t.Errorf("ReadAll should return the lines that arrived before the failure: %s; see README.md, %q", diff, task2)
	}
}
