// Command 08-scale-out serves lesson 08's Hub as two replicas, A and B, on
// two real ports, behind one NATS JetStream broker embedded in this process:
//
//	go run ./cmd/workbook play 8             # your code
//	go run ./cmd/workbook play 8 --solution  # the reference
//
// Subscribe on A and Publish on B: the event goes through the broker's
// stream and reaches the subscriber on A. The broker stores its files in a
// temporary directory, removed at exit. Ctrl-C shuts down as Task 5
// teaches, replica by replica (Close, GracefulStop, drain the replica's
// connection), and only then stops the broker.
package main

import (
	"fmt"
	"io"
	"os"

	"google.golang.org/grpc"

	"github.com/grpc-workbook/streaming/internal/play"
	scaleout "github.com/grpc-workbook/streaming/lessons/08-scale-out"
	"github.com/grpc-workbook/streaming/lessons/08-scale-out/scaleoutpb"
)

// keep is how many events the broker's stream keeps: resume with an
// afterSeq older than that, and Subscribe answers OutOfRange.
const keep = 1000

func main() {
	b, err := startBroker()
	if err != nil {
		fmt.Fprintf(os.Stderr, "play: the broker did not start: %v\n", err)
		fmt.Fprintln(os.Stderr, "Both replicas need it: write Task 1 first (play 8 --solution runs the reference).")
		os.Exit(1)
	}
	play.Main(play.Lesson{
		ID:         "08-scale-out",
		Replicas:   []string{"A", "B"},
		NewReplica: b.newReplica,
		After:      b.close, // the broker goes last, after every replica
		Samples: map[string][]string{
			"Subscribe": {`{"afterSeq": 0}`},
			"Publish":   {`{"requestId": "story-1", "payload": "breaking news"}`},
		},
		About: []string{
			"Run A's Subscribe in one terminal and B's Publish in another: the event B stored in the broker",
			"reaches the subscriber on A, numbered by the broker. Publish the same requestId again: duplicate, same",
			"seq; change it for a new event. Subscribe on B with afterSeq set to the last seq you saw to resume there.",
			"Ctrl-C shuts down A, then B, as Task 5 teaches (Close: each subscriber hears Goodbye with its last",
			"seq; GracefulStop; drain the replica's connection to the broker), and then stops the broker.",
		},
	})
}

// broker is the embedded broker every replica connects to, and the
// temporary directory it stores the stream in.
type broker struct {
	*scaleout.Broker
	dir string
}

func startBroker() (*broker, error) {
	dir, err := os.MkdirTemp("", "workbook-play08-*")
	if err != nil {
		return nil, err
	}
	b, err := scaleout.StartBroker(dir, keep)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &broker{Broker: b, dir: dir}, nil
}

// close stops the broker, once every replica has stopped, and removes its
// files.
func (b *broker) close() {
	b.Close()
	if b.Server().Running() {
		fmt.Println("Note: Broker.Close returned with the broker still running (is Task 1 written?); it ends with play.")
	}
	os.RemoveAll(b.dir)
}

// newReplica serves a replica named name, with a connection of its own to
// the broker, as each test of the lesson does.
func (b *broker) newReplica(name string, log io.Writer) (*grpc.Server, func()) {
	nc, err := b.Connect()
	if err != nil {
		b.close()
		fmt.Fprintf(os.Stderr, "play: replica %s: connecting to the broker: %v\n", name, err)
		os.Exit(1)
	}
	r, err := scaleout.NewReplica(name, nc)
	if err != nil {
		b.close()
		fmt.Fprintf(os.Stderr, "play: replica %s: %v\n", name, err)
		os.Exit(1)
	}
	s := grpc.NewServer()
	scaleoutpb.RegisterHubServer(s, r)
	return s, func() {
		if err := scaleout.Shutdown(r, s); err != nil {
			fmt.Fprintf(log, "Note: replica %s: %v\n", name, err)
		}
	}
}
