// Mistake: StartBroker leaves NoSigs unset.
//
// Why it is wrong: NewServer then calls signal.Notify for SIGINT, SIGTERM and
// others and handles them itself: Ctrl-C during go test shuts the broker down
// and the tests go on against a dead broker instead of ending.
//
// Caught by: TestScaleOut_Broker_StartsInProcess_NoPort

package scaleout

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The stream every replica shares (given). Events are stored under one
// subject; the stream's sequence number is the event's number.
const (
	StreamName = "EVENTS"
	Subject    = "events"
	// DedupWindow is how long the broker remembers a publish's message id
	// (the Nats-Msg-Id header): a retry within it is not stored again.
	DedupWindow = 2 * time.Minute
)

// Broker is a NATS server with JetStream, run inside this process: the
// backbone every replica connects to. In production it is a cluster of its
// own (see README.md, "The same code against a real cluster").
type Broker struct {
	srv *server.Server
}

// Server returns the embedded NATS server (given), for tests to look at.
func (b *Broker) Server() *server.Server { return b.srv }

// Connect opens a client connection to the broker inside this process (given):
// no port, no network, just an in-memory pipe. Against a real cluster it is
// nats.Connect(url).
func (b *Broker) Connect() (*nats.Conn, error) {
	return nats.Connect("", nats.InProcessServer(b.srv), nats.Name("replica"))
}

// StartBroker starts a NATS server in this process with JetStream storing
// its files in dir, listening on no port, and creates the stream EVENTS on
// it, keeping the latest keep events.
func StartBroker(dir string, keep int64) (*Broker, error) {
	srv, err := server.NewServer(&server.Options{
		ServerName: "embedded",
		DontListen: true, // connections come through Connect, in memory
		JetStream:  true,
		StoreDir:   dir,
	})
	if err != nil {
		return nil, fmt.Errorf("configuring the broker: %w", err)
	}
	srv.Start()
	b := &Broker{srv: srv}
	if !srv.ReadyForConnections(10 * time.Second) {
		b.Close()
		return nil, errors.New("the broker did not become ready")
	}
	if err := b.createStream(keep); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// createStream creates the stream EVENTS over one connection that it closes
// again: the stream lives in the broker, not in a connection.
func (b *Broker) createStream(keep int64) error {
	nc, err := b.Connect()
	if err != nil {
		return fmt.Errorf("connecting to the broker: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	_, err = js.CreateOrUpdateStream(context.Background(), jetstream.StreamConfig{
		Name:       StreamName,
		Subjects:   []string{Subject},
		Storage:    jetstream.FileStorage,
		MaxMsgs:    keep,
		Discard:    jetstream.DiscardOld,
		Duplicates: DedupWindow,
	})
	if err != nil {
		return fmt.Errorf("creating stream %s: %w", StreamName, err)
	}
	return nil
}

// Close shuts the broker down and returns once every goroutine it started
// has ended.
func (b *Broker) Close() {
	b.srv.Shutdown()
	b.srv.WaitForShutdown()
}
