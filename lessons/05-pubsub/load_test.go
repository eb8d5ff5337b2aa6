package pubsub_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-workbook/streaming/internal/harness"
	pubsub "github.com/grpc-workbook/streaming/lessons/05-pubsub"
	"github.com/grpc-workbook/streaming/lessons/05-pubsub/pubsubpb"
)

// loadRuns counts the load test's runs in this test process. The first run
// has 1,000 subscribers; repeats (-count=20) and -short runs use 100, which
// keeps the verification's 20 race-detector runs within seconds while every
// run of `go test` still includes one full-size load test.
var loadRuns atomic.Int32

func loadSize() int {
	if loadRuns.Add(1) == 1 && !testing.Short() {
		return 1000
	}
	return 100
}

// loadStream is what one subscriber of the load test heard.
type loadStream struct {
	name    string
	seqs    []uint64          // Message sequence numbers, in arrival order
	goodbye *pubsubpb.Goodbye // nil if none came
	err     error             // the first unexpected thing: a bad event, or a Recv error other than io.EOF
}

// readAll receives until the stream ends, recording messages and Goodbye.
func (ls *loadStream) readAll(stream eventStream) {
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			if ls.goodbye == nil && ls.err == nil {
				ls.err = errors.New("the stream ended without Goodbye")
			}
			return
		}
		if err != nil {
			if ls.err == nil {
				ls.err = fmt.Errorf("Recv: %w", err)
			}
			return
		}
		switch kind := ev.GetKind().(type) {
		case *pubsubpb.Event_Message:
			ls.seqs = append(ls.seqs, kind.Message.GetSeq())
		case *pubsubpb.Event_Goodbye:
			ls.goodbye = kind.Goodbye
		default:
			if ls.err == nil {
				ls.err = fmt.Errorf("unexpected event {%v}", ev)
			}
		}
	}
}

// ascending reports whether seqs only ever go up.
func ascending(seqs []uint64) bool {
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			return false
		}
	}
	return true
}

// waitGroupDone turns wg.Wait into a channel for harness.Wait.
func waitGroupDone(wg *sync.WaitGroup) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	return done
}

// TestPubSub_Load_ManySubscribersJoinLeaveAndLag runs the whole service at
// once: many subscribers over one in-memory connection, some joining and
// leaving while messages are published, a few not reading at all until the
// end. Healthy subscribers must get every message in order; the slow ones
// must have each message either delivered or counted as dropped; publishing
// must never wait for the slow ones; and shutdown must leave nothing behind.
//
// The test goroutine itself reads the healthy subscribers' streams, one after
// another after each batch: a goroutine per stream would make the race
// detector's bookkeeping, not the hub, the thing being measured.
func TestPubSub_Load_ManySubscribersJoinLeaveAndLag(t *testing.T) {
	size := loadSize()
	const (
		queueSize = 64
		batch     = 5 // published between two readings of the healthy streams, so they keep up
		batches   = 2
		messages  = batch * batches
		slowCount = 5
		churners  = 30 // subscribers that come and go while messages are published
	)
	hub, client, _, gs := startHub(t, queueSize)
	ctx := harness.Context(t)
	baseGoroutines := runtime.NumGoroutine()

	// Open every stream first, then read every First: the calls overlap.
	subs := make([]*loadStream, size)
	streams := make([]eventStream, size)
	for i := range size {
		subs[i] = &loadStream{name: fmt.Sprintf("sub-%04d", i)}
		if i < slowCount {
			subs[i].name = fmt.Sprintf("slow-%d", i)
		}
		streams[i] = openStream(t, ctx, client, subs[i].name, task11)
	}
	for i, stream := range streams {
		ev := recvEvent(t, stream, subs[i].name+"'s First", task11)
		require.NotNil(t, ev.GetFirst(), "%s's first event: got {%v}, want First; %s", subs[i].name, ev, see(task11))
	}
	n, _ := hub.SubscriberCount()
	require.Equal(t, size, n, "SubscriberCount once every subscriber received First: %s", see(task11))
	peakGoroutines := runtime.NumGoroutine()

	// Churners join between batches and leave after hearing two messages,
	// while the next batches go out.
	var churned sync.WaitGroup
	churnResults := make([]*loadStream, churners)
	startChurner := func(i int, joined *sync.WaitGroup) {
		ls := &loadStream{name: fmt.Sprintf("churn-%d", i)}
		churnResults[i] = ls
		churned.Go(func() {
			cctx, cancel := context.WithCancel(ctx)
			defer cancel()
			stream, err := client.Subscribe(cctx, &pubsubpb.SubscribeRequest{Name: ls.name})
			if err == nil {
				_, err = stream.Recv() // First: registered from here on
			}
			joined.Done()
			if err != nil {
				ls.err = fmt.Errorf("subscribing: %w", err)
				return
			}
			for len(ls.seqs) < 2 { // the next batch has more than two messages
				ev, err := stream.Recv()
				if err != nil {
					ls.err = fmt.Errorf("Recv: %w", err)
					return
				}
				if m := ev.GetMessage(); m != nil {
					ls.seqs = append(ls.seqs, m.GetSeq())
				}
			}
			cancel() // leave, then read to the first error so the stream is released
			for {
				if _, err := stream.Recv(); err != nil {
					return
				}
			}
		})
	}

	for b := range batches {
		var joined sync.WaitGroup
		for i := b * churners / batches; i < (b+1)*churners/batches; i++ {
			joined.Add(1)
			startChurner(i, &joined)
		}
		harness.Wait(t, waitGroupDone(&joined), fmt.Sprintf("batch %d's churning subscribers to receive First (%s)", b+1, see(task11)))
		for k := 1; k <= batch; k++ {
			_, err := client.Publish(ctx, &pubsubpb.PublishRequest{Payload: fmt.Sprintf("m%d", b*batch+k)})
			harness.RequireOK(t, err, "Publish under load (it must never wait for a slow subscriber)", task11)
		}
		// Every healthy subscriber now reads this batch, in order.
		for i := slowCount; i < size; i++ {
			for k := 1; k <= batch; k++ {
				want := uint64(b*batch + k)
				ev := recvEvent(t, streams[i], fmt.Sprintf("message %d by %s, which keeps up", want, subs[i].name), task11)
				if got := ev.GetMessage().GetSeq(); got != want {
					t.Fatalf("%s keeps up, but its next event is {%v}, want message %d: published messages must arrive in order, none lost; %s",
						subs[i].name, ev, want, see(task11))
				}
			}
		}
	}
	harness.Wait(t, waitGroupDone(&churned), fmt.Sprintf("the churning subscribers to finish (%s)", see(task11)))
	waitForCount(t, hub, size, task11) // every churner is forgotten again

	var heap runtime.MemStats
	runtime.ReadMemStats(&heap)

	shutdown := make(chan struct{})
	go func() {
		defer close(shutdown)
		pubsub.Shutdown(hub, gs)
	}()
	var dropped uint64
	for i, ls := range subs {
		ls.readAll(streams[i])
		if !assert.NoError(t, ls.err, "%s: %s", ls.name, see(task11)) ||
			!assert.NotNil(t, ls.goodbye, "%s got no Goodbye: %s", ls.name, see(task11)) {
			continue
		}
		if i < slowCount {
			// Each message was either delivered or dropped and counted.
			assert.True(t, ascending(ls.seqs), "%s (slow) got messages out of order: %v; %s", ls.name, ls.seqs, see(task11))
			assert.Equal(t, uint64(messages), uint64(len(ls.seqs))+ls.goodbye.GetDropped(),
				"%s (slow): messages received + Goodbye.dropped: got (left), want every message published (right); %s", ls.name, see(task11))
			dropped += ls.goodbye.GetDropped()
			continue
		}
		assert.Empty(t, ls.seqs, "%s: messages after the last batch, before Goodbye: %s", ls.name, see(task11))
		assert.Zero(t, ls.goodbye.GetDropped(), "%s kept up, yet its Goodbye counts drops: %s", ls.name, see(task11))
	}
	harness.Wait(t, shutdown, fmt.Sprintf("Shutdown to return (%s)", see(task11)))

	for _, ls := range churnResults {
		assert.NoError(t, ls.err, "%s (joined and left): %s", ls.name, see(task11))
		assert.True(t, ascending(ls.seqs), "%s (joined and left) got messages out of order: %v; %s", ls.name, ls.seqs, see(task11))
	}
	t.Logf("%d subscribers (%d slow, %d joined and left) x %d messages: slow subscribers dropped %d in all; "+
		"goroutines %d -> %d at peak; heap in use before shutdown %d MiB",
		size, slowCount, churners, messages, dropped, baseGoroutines, peakGoroutines, heap.HeapInuse>>20)
	assert.LessOrEqual(t, peakGoroutines-baseGoroutines, 4*size,
		"goroutines started for %d subscribers: a few per stream are expected, more means goroutines per event; %s", size, see(task11))
}
