package scaleout_test

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/grpc-workbook/streaming/internal/harness"
	scaleout "github.com/grpc-workbook/streaming/lessons/08-scale-out"
	"github.com/grpc-workbook/streaming/lessons/08-scale-out/scaleoutpb"
)

// shutdown runs scaleout.Shutdown on r and requires it to return nil.
func shutdown(t *testing.T, r *replica) {
	t.Helper()
	var err error
	harness.Call(t, "scaleout.Shutdown(replica "+r.name+", its gRPC server)", func() { err = scaleout.Shutdown(r.r, r.gs) })
	require.NoError(t, err, "Shutdown of replica %s", r.name)
}

func TestScaleOut_Shutdown_GoodbyeThenConsumersDeletedThenDrained(t *testing.T) {
	b := startBroker(t, 100)
	seen := &drainSeen{}
	a := startReplica(t, b, "A", func(s scaleoutpb.HubServer) scaleoutpb.HubServer { seen.HubServer = s; return seen })
	seen.nc = a.nc
	bb := startReplica(t, b, "B")
	onA := []*subscription{subscribe(t, a, 0), subscribe(t, a, 0)}
	onB := subscribe(t, bb, 0)
	publishN(t, 1, 3, a, bb)
	for _, s := range append(onA, onB) {
		s.messages(t, 3, "a subscriber on replica "+s.replica.name)
	}
	require.Equal(t, 3, b.consumers(t), "consumers in the broker before the shutdown")

	shutdown(t, a)
	assert.Zero(t, seen.early.Load(), "Subscribe handlers of replica A that returned after its connection to the broker had begun to drain: "+
		"drain it only once GracefulStop has returned, for each handler reads through it, and deletes its consumer through it on the way out")
	assert.Equal(t, 1, b.consumers(t),
		"consumers in the broker once Shutdown of replica A has returned: replica B's only. A's handlers delete theirs on the way out, through A's connection, so it must not drain before GracefulStop has returned")
	assert.True(t, a.nc.IsClosed(), "replica A's connection to the broker once Shutdown has returned: Drain it, then wait until it is closed")
	want := &scaleoutpb.Event{Kind: &scaleoutpb.Event_Goodbye{Goodbye: &scaleoutpb.Goodbye{Replica: "A", LastSeq: 3}}}
	for i, s := range onA {
		ev := s.goodbye(t, fmt.Sprintf("subscriber %d, whose replica shut down (its streams end with Goodbye when "+
			"Close comes first, GracefulStop next, and the connection's drain last)", i+1))
		assert.Truef(t, proto.Equal(want, ev), "subscriber %d on replica A: want %v, got %v", i+1, want, ev)
		s.requireEOF(t, "the end of the stream after Goodbye")
	}
}

func TestScaleOut_Shutdown_WaitsUntilTheConnectionHasClosed(t *testing.T) {
	b := startBroker(t, 100)
	a := startReplica(t, b, "A")
	// A message replica A's connection is still handling holds its drain:
	// the connection can close only once the test lets the handling end.
	hold, handling := make(chan struct{}), make(chan struct{})
	_, err := a.nc.Subscribe("test.hold", func(*nats.Msg) { close(handling); <-hold })
	require.NoError(t, err)
	release := sync.OnceFunc(func() { close(hold) })
	t.Cleanup(release)
	require.NoError(t, a.nc.Publish("test.hold", nil))
	harness.Wait(t, handling, "the test's message to reach replica A's connection")

	done := make(chan error, 1)
	go func() { done <- scaleout.Shutdown(a.r, a.gs) }()
	waitWhileDraining(t, a, done)
	release()
	err = harness.Wait(t, done, "scaleout.Shutdown to return once the connection's drain could end")
	require.NoError(t, err, "Shutdown of replica A")
	assert.True(t, a.nc.IsClosed(), "replica A's connection once Shutdown has returned")
}

// waitWhileDraining waits until r's connection drains while Shutdown waits,
// and fails if Shutdown returns (on done) while the connection drains.
func waitWhileDraining(t *testing.T, r *replica, done <-chan error) {
	t.Helper()
	returned := false
	draining := harness.Eventually(func() bool {
		select {
		case <-done:
			returned = true
			return true
		default:
			return r.nc.IsDraining() && shutdownWaiting()
		}
	})
	switch {
	case returned:
		t.Fatalf("scaleout.Shutdown returned while replica %s's connection was still draining (draining: %v, closed: %v): "+
			"Drain only starts the drain; wait until the connection has closed (r.closed) before returning, "+
			"or what is still in flight is lost when the program exits", r.name, r.nc.IsDraining(), r.nc.IsClosed())
	case !draining:
		harness.Blocked(t, fmt.Sprintf("scaleout.Shutdown to drain replica %s's connection and wait for it to close", r.name))
	}
}

// shutdownWaiting reports whether a goroutine waits inside scaleout.Shutdown
// itself, blocked rather than running.
func shutdownWaiting() bool {
	for _, g := range harness.Goroutines() {
		if strings.Contains(g.Stack, "/lessons/08-scale-out.Shutdown(") && g.State != "running" && g.State != "runnable" {
			return true
		}
	}
	return false
}

func TestScaleOut_Shutdown_OtherReplicasKeepServing(t *testing.T) {
	b := startBroker(t, 100)
	a, bb := startReplica(t, b, "A"), startReplica(t, b, "B")
	onB := subscribe(t, bb, 0)
	publishN(t, 1, 2, a, bb)
	onB.messages(t, 2, "the subscriber on replica B")

	shutdown(t, a)
	assert.False(t, bb.nc.IsClosed(), "replica B's connection once replica A has shut down: a replica closes its own connection only")
	publishN(t, 3, 2, bb)
	assert.Equal(t, []int{3, 4}, onB.messages(t, 2, "the subscriber on replica B, after A shut down"), "what the subscriber on B hears after A shut down")
	nc, err := b.Connect()
	if assert.NoError(t, err, "connecting to the broker after replica A shut down: a replica must not close the broker") {
		nc.Close()
	}
}

// drainSeen is a replica's service that counts the Subscribe handlers that
// returned when the replica's connection to the broker was already
// draining or closed.
type drainSeen struct {
	scaleoutpb.HubServer
	nc    *nats.Conn
	early atomic.Int32
}

func (d *drainSeen) Subscribe(req *scaleoutpb.SubscribeRequest, stream grpc.ServerStreamingServer[scaleoutpb.Event]) error {
	err := d.HubServer.Subscribe(req, stream)
	if d.nc.IsDraining() || d.nc.IsClosed() {
		d.early.Add(1)
	}
	return err
}
