// Command 02-server-stream serves lesson 02's log service on a real port:
//
//	go run ./cmd/workbook play 2             # your code
//	go run ./cmd/workbook play 2 --solution  # the reference
//
// The live log gets a line every second, which Follow streams to whoever
// follows it.
package main

import (
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"

	"github.com/grpc-workbook/streaming/internal/play"
	serverstream "github.com/grpc-workbook/streaming/lessons/02-server-stream"
	"github.com/grpc-workbook/streaming/lessons/02-server-stream/logpb"
)

func main() {
	play.Main(play.Lesson{
		ID:  "02-server-stream",
		New: newServer,
		Samples: map[string][]string{
			"Replay":   {`{"log": "build-42"}`},
			"Firehose": {`{"lineBytes": 80}`},
		},
		About: []string{
			`Replay knows the logs "build-42" and "deploy-7". The live log gets a line every second: Follow streams them.`,
			"Firehose sends as fast as the client reads: stop it with Ctrl-C in the client's terminal (grpcurl -max-time 1 stops it after 1 s).",
			"Ctrl-C closes the live log (Follow ends with OK), then GracefulStop, which waits for an open Firehose until play stops it.",
		},
	})
}

// newServer builds the log service and starts writing the live log.
func newServer(io.Writer) (*grpc.Server, func()) {
	logs := map[string][]string{
		"build-42": {"fetching modules", "compiling 12 packages", "linking", "build ok in 8.1 s"},
		"deploy-7": {"pulling image", "starting 3 replicas", "all replicas healthy"},
	}
	live := make(chan string)
	s := grpc.NewServer()
	logpb.RegisterLogServiceServer(s, serverstream.NewServer(logs, live))

	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		ticker := time.NewTicker(time.Second)
		defer ticker.Stop()
		for {
			select {
			case now := <-ticker.C:
				select {
				case live <- fmt.Sprintf("%s heartbeat from the build farm", now.Format(time.TimeOnly)):
				default: // nobody follows: the line is not kept
				}
			case <-stop:
				return
			}
		}
	}()

	return s, func() {
		close(stop)
		<-done
		close(live) // every Follow ends with OK
		s.GracefulStop()
	}
}
