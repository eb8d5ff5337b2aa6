package scaleout

import (
	"errors"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
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
	// TODO(lesson 08): Task 1. server.NewServer with JetStream on, StoreDir
	// dir, DontListen and NoSigs; Start it, wait for
	// ReadyForConnections, then b.createStream(keep). Close what you started
	// when a step fails.
	return nil, errors.New("StartBroker is not implemented yet (lesson 08, task 1)")
}

// createStream creates the stream EVENTS over one connection that it closes
// again: the stream lives in the broker, not in a connection.
func (b *Broker) createStream(keep int64) error {
	// TODO(lesson 08): Task 1. Connect, jetstream.New, and
	// CreateOrUpdateStream: StreamName on Subject, file storage, MaxMsgs keep
	// (dropping the oldest), Duplicates DedupWindow.
	return errors.New("createStream is not implemented yet (lesson 08, task 1)")
}

// Close shuts the broker down and returns once every goroutine it started
// has ended.
func (b *Broker) Close() {
	// TODO(lesson 08): Task 1. Shut the server down and wait until it has.
}
