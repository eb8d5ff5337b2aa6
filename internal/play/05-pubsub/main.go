// Command 05-pubsub serves lesson 05's Hub on a real port:
//
//	go run ./cmd/workbook play 5             # your code
//	go run ./cmd/workbook play 5 --solution  # the reference
//
// The hub gets a Timer event every second from a real ticker, and Ctrl-C
// shuts down as Task 8 teaches: close the hub, then GracefulStop.
package main

import (
	"io"
	"time"

	"google.golang.org/grpc"

	pubsub "github.com/grpc-workbook/streaming/lessons/05-pubsub"
	"github.com/grpc-workbook/streaming/lessons/05-pubsub/pubsubpb"

	"github.com/grpc-workbook/streaming/internal/play"
)

func main() {
	play.Main(play.Lesson{
		ID:  "05-pubsub",
		New: newServer,
		Samples: map[string][]string{
			"Subscribe": {`{"name": "ada"}`},
			"Publish":   {`{"payload": "hello, subscribers"}`},
		},
		About: []string{
			"Every subscriber gets a First event, then a Timer event each second, and a Message for each Publish.",
			"Ctrl-C closes the hub (every subscriber hears Goodbye), then GracefulStop waits for the streams to end.",
		},
	})
}

// newServer builds the hub, serves it, and starts its one-second ticker.
func newServer(io.Writer) (*grpc.Server, func()) {
	hub := pubsub.NewHub(16)
	s := grpc.NewServer()
	pubsubpb.RegisterHubServer(s, pubsub.NewServer(hub))

	ticker := time.NewTicker(time.Second)
	go hub.RunTimer(ticker.C) // returns once the hub is closed

	return s, func() {
		pubsub.Shutdown(hub, s)
		ticker.Stop()
	}
}
