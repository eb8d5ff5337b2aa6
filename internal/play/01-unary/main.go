// Command 01-unary serves lesson 01's Greeter on a real port:
//
//	go run ./cmd/workbook play 1             # your code
//	go run ./cmd/workbook play 1 --solution  # the reference
//
// A guest walks in every two seconds, to whoever is waiting in AwaitGuest.
package main

import (
	"io"
	"time"

	"google.golang.org/grpc"

	"github.com/grpc-workbook/streaming/internal/play"
	unary "github.com/grpc-workbook/streaming/lessons/01-unary"
	"github.com/grpc-workbook/streaming/lessons/01-unary/greeterpb"
)

func main() {
	play.Main(play.Lesson{
		ID:  "01-unary",
		New: newServer,
		Samples: map[string][]string{
			"SayHello":   {`{"name": "Ada"}`},
			"SayGoodbye": {`{"name": "Ada"}`},
		},
		About: []string{
			"A guest walks in every 2 s: AwaitGuest answers when the next one does. Try SayHello with an empty name,",
			`then SayGoodbye to someone never greeted, and a deadline: grpcurl -max-time 1 on AwaitGuest.`,
			"Ctrl-C closes the front desk (a waiting AwaitGuest answers Unavailable), then GracefulStop.",
		},
	})
}

// newServer builds the Greeter and starts the guests arriving.
func newServer(io.Writer) (*grpc.Server, func()) {
	arrivals := make(chan string)
	s := grpc.NewServer()
	greeterpb.RegisterGreeterServer(s, unary.NewServer(arrivals))

	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		ticker := time.NewTicker(2 * time.Second)
		defer ticker.Stop()
		guests := []string{"Grace", "Alan", "Barbara", "Edsger", "Margaret"}
		for i := 0; ; i++ {
			select {
			case <-ticker.C:
			case <-stop:
				return
			}
			select {
			case arrivals <- guests[i%len(guests)]: // only if someone is waiting
			default:
			}
		}
	}()

	return s, func() {
		close(stop)
		<-done
		close(arrivals) // the desk is closed: AwaitGuest returns
		s.GracefulStop()
	}
}
