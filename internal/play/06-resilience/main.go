// Command 06-resilience serves lesson 06's Feed on a real port:
//
//	go run ./cmd/workbook play 6             # your code
//	go run ./cmd/workbook play 6 --solution  # the reference
//
// An event is appended to the log every two seconds, so a subscriber sees
// the feed move; Ctrl-C stops the server as the lesson's restarts do.
package main

import (
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"

	"github.com/grpc-workbook/streaming/internal/play"
	resilience "github.com/grpc-workbook/streaming/lessons/06-resilience"
	"github.com/grpc-workbook/streaming/lessons/06-resilience/resiliencepb"
)

func main() {
	play.Main(play.Lesson{
		ID:  "06-resilience",
		New: newServer,
		Samples: map[string][]string{
			"Subscribe": {`{"afterSeq": 0}`},
			"Publish":   {`{"requestId": "note-1", "payload": "hello, feed"}`},
		},
		About: []string{
			"An event is appended every 2 s. The log keeps the newest 20: resume with afterSeq, and too old a",
			"position answers OutOfRange. Publish twice with the same requestId: the second says duplicate.",
			"Ctrl-C stops the server with Stop, as the lesson's restarts do: open streams break, and a Follower",
			"would subscribe again from its last event.",
		},
	})
}

// newServer serves a fresh log and starts appending to it.
func newServer(io.Writer) (*grpc.Server, func()) {
	log := resilience.NewLog(20, 100)
	s := grpc.NewServer(resilience.ServerOptions()...)
	resiliencepb.RegisterFeedServer(s, resilience.NewServer(log))

	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		ticker := time.NewTicker(2 * time.Second)
		defer ticker.Stop()
		for {
			select {
			case now := <-ticker.C:
				log.Append(fmt.Sprintf("sensor reading at %s", now.Format(time.TimeOnly)))
			case <-stop:
				return
			}
		}
	}()

	return s, func() {
		close(stop)
		<-done
		s.Stop()
	}
}
