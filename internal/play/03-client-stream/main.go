// Command 03-client-stream serves lesson 03's sensor hub on a real port:
//
//	go run ./cmd/workbook play 3             # your code
//	go run ./cmd/workbook play 3 --solution  # the reference
//
// Both methods are client streams: type readings into grpcurl one line at a
// time, and the summary comes when you close your side with Ctrl-D.
package main

import (
	"fmt"
	"io"

	"google.golang.org/grpc"

	"github.com/grpc-workbook/streaming/internal/play"
	clientstream "github.com/grpc-workbook/streaming/lessons/03-client-stream"
	"github.com/grpc-workbook/streaming/lessons/03-client-stream/sensorpb"
)

func main() {
	play.Main(play.Lesson{
		ID:  "03-client-stream",
		New: newServer,
		Samples: map[string][]string{
			"Upload": {`{"decicelsius": 215}`, `{"decicelsius": 198}`, `{"decicelsius": -32}`},
			"Ack":    {`{"taskId": "calibrate-1"}`, `{"taskId": "calibrate-1"}`, `{"taskId": "clean-lens"}`},
		},
		About: []string{
			"Nothing comes back until you close your side (Ctrl-D): then one Summary, or one Empty for Ack.",
			"Try a reading of 601 (out of range), or end Ack with Ctrl-C instead: the acks already sent still count.",
			"Ctrl-C lists the acknowledged tasks, then GracefulStop waits for the open uploads.",
		},
	})
}

// newServer builds the hub; its shutdown says which tasks were acknowledged.
func newServer(log io.Writer) (*grpc.Server, func()) {
	hub := clientstream.NewServer()
	s := grpc.NewServer()
	sensorpb.RegisterHubServer(s, hub)
	return s, func() {
		fmt.Fprintf(log, "Acknowledged tasks: %q\n", hub.Acked())
		s.GracefulStop()
	}
}
