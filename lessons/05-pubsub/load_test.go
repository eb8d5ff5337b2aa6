package pubsub_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

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
	stream  eventStream
	seqs    []uint64          // Message sequence numbers, in arrival order
	goodbye *pubsubpb.Goodbye // nil if none came
}

// readToEnd receives until the stream ends, recording messages and Goodbye.
func (ls *loadStream) readToEnd() error {
	for {
		ev, err := ls.stream.Recv()
		if errors.Is(err, io.EOF) {
			if ls.goodbye == nil {
				return fmt.Errorf("%s: the stream ended without Goodbye", ls.name)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: Recv: %s", ls.name, harness.Describe(err))
		}
		switch kind := ev.GetKind().(type) {
		case *pubsubpb.Event_Message:
			ls.seqs = append(ls.seqs, kind.Message.GetSeq())
		case *pubsubpb.Event_Goodbye:
			ls.goodbye = kind.Goodbye
		default:
			return fmt.Errorf("%s: unexpected event {%v}", ls.name, ev)
		}
	}
}

// inSteps runs step(0), ..., step(n-1) in order on a goroutine of its own and
// fails the test at the first error, or when no step has ended for
// harness.WaitLimit. So a busy machine only makes the test slower, while a
// stream that hangs still fails it within seconds.
func inSteps(t *testing.T, n int, what string, step func(i int) error) {
	t.Helper()
	ended := make(chan error, n)
	go func() {
		for i := range n {
			err := step(i)
			ended <- err
			if err != nil {
				return
			}
		}
	}()
	for i := range n {
		if err := harness.Wait(t, ended, fmt.Sprintf("%s (step %d of %d)", what, i+1, n)); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
}

// TestPubSub_Load_ManySubscribersJoinLeaveAndLag runs the whole service at
// once: many subscribers over one in-memory connection, some joining and
// leaving while messages are published, a few not reading at all until the
// end. Healthy subscribers must get every message in order; the slow ones
// must have each message either delivered or counted as dropped; publishing
// must never wait for the slow ones; and shutdown must leave nothing behind.
//
// One goroutine reads the healthy subscribers' streams, one after another
// after each batch: a goroutine per stream would make the race detector's
// bookkeeping, not the hub, the thing being measured. The server has no
// transcript (startBareHub), and the streams live for the whole test, so they
// use the test's own context rather than a call deadline; every wait is
// bounded by inSteps instead.
func TestPubSub_Load_ManySubscribersJoinLeaveAndLag(t *testing.T) {
	size := loadSize()
	const (
		queueSize = 64
		batch     = 3 // published between two readings of the healthy streams, so they keep up
		batches   = 2
		messages  = batch * batches
		slowCount = 5
		churners  = 30 // subscribers that come and go while messages are published
	)
	hub, client, gs := startBareHub(t, queueSize)
	ctx := t.Context()
	baseGoroutines := runtime.NumGoroutine()

	// Open every stream first, then read every First: the calls overlap.
	// Only the first subscriber reads its First at once, to check that the
	// service works at all before 999 more pile on.
	subs := make([]*loadStream, size)
	receiveFirst := func(i int) error {
		ev, err := subs[i].stream.Recv()
		if err != nil {
			return fmt.Errorf("%s: Recv of First: %s", subs[i].name, harness.Describe(err))
		}
		if ev.GetFirst() == nil {
			return fmt.Errorf("%s's first event should be First, not {%v}", subs[i].name, ev)
		}
		return nil
	}
	inSteps(t, size, "opening every Subscribe stream", func(i int) (err error) {
		subs[i] = &loadStream{name: fmt.Sprintf("sub-%04d", i)}
		if i < slowCount {
			subs[i].name = fmt.Sprintf("slow-%d", i)
		}
		if subs[i].stream, err = client.Subscribe(ctx, &pubsubpb.SubscribeRequest{Name: subs[i].name}); err != nil || i > 0 {
			return err
		}
		return receiveFirst(i)
	})
	inSteps(t, size-1, "every subscriber receiving First", func(i int) error { return receiveFirst(i + 1) })
	n, _ := count(t, hub)
	require.Equal(t, size, n, "SubscriberCount once every subscriber received First")
	peakGoroutines := runtime.NumGoroutine()

	// Churners join before each batch and leave after hearing two of its
	// messages, while the batch goes out.
	var churned sync.WaitGroup
	churnSeqs := make([][]uint64, churners)
	churnErrs := make([]error, churners)
	churn := func(i int, joined *sync.WaitGroup) {
		churned.Go(func() {
			cctx, cancel := context.WithCancel(ctx)
			defer cancel()
			stream, err := client.Subscribe(cctx, &pubsubpb.SubscribeRequest{Name: fmt.Sprintf("churn-%d", i)})
			if err == nil {
				_, err = stream.Recv() // First: registered from here on
			}
			joined.Done()
			for err == nil && len(churnSeqs[i]) < 2 { // the batch has more than two messages
				var ev *pubsubpb.Event
				if ev, err = stream.Recv(); err == nil {
					churnSeqs[i] = append(churnSeqs[i], ev.GetMessage().GetSeq())
				}
			}
			if err != nil {
				churnErrs[i] = fmt.Errorf("churn-%d: %s", i, harness.Describe(err))
				return
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
			churn(i, &joined)
		}
		harness.Wait(t, waitGroupDone(&joined), fmt.Sprintf("batch %d's churning subscribers to receive First", b+1))
		inSteps(t, batch, "publishing under load (Publish must never wait for a slow subscriber)", func(k int) error {
			_, err := client.Publish(ctx, &pubsubpb.PublishRequest{Payload: fmt.Sprintf("m%d", b*batch+k+1)})
			return err
		})
		// Every healthy subscriber now reads this batch, in order.
		inSteps(t, size-slowCount, "the subscribers that keep up reading each batch", func(i int) error {
			ls := subs[slowCount+i]
			for k := 1; k <= batch; k++ {
				want := uint64(b*batch + k)
				ev, err := ls.stream.Recv()
				if err != nil {
					return fmt.Errorf("%s: Recv of message %d: %s", ls.name, want, harness.Describe(err))
				}
				if got := ev.GetMessage().GetSeq(); got != want {
					return fmt.Errorf("%s keeps up, so its next event should be message %d, not {%v}: "+
						"published messages must arrive in order, none lost", ls.name, want, ev)
				}
			}
			return nil
		})
	}
	harness.Wait(t, waitGroupDone(&churned), "the churning subscribers to finish")
	require.NoError(t, errors.Join(churnErrs...), "subscribers that joined and left")
	for i, seqs := range churnSeqs {
		assert.True(t, slices.IsSorted(seqs), "churn-%d (joined and left) got messages out of order: %v", i, seqs)
	}
	waitForCount(t, hub, size) // every churner is forgotten again

	var heap runtime.MemStats
	runtime.ReadMemStats(&heap)

	shutdown := make(chan struct{})
	go func() {
		defer close(shutdown)
		pubsub.Shutdown(hub, gs)
	}()
	inSteps(t, size, "every subscriber reading to Goodbye and io.EOF after Shutdown", func(i int) error {
		return subs[i].readToEnd()
	})
	harness.Wait(t, shutdown, "pubsub.Shutdown to return")

	var dropped uint64
	for i, ls := range subs {
		if i < slowCount {
			// Each message was either delivered or dropped and counted.
			assert.True(t, slices.IsSorted(ls.seqs), "%s (slow) got messages out of order: %v", ls.name, ls.seqs)
			assert.Equal(t, uint64(messages), uint64(len(ls.seqs))+ls.goodbye.GetDropped(),
				"%s (slow): messages received + Goodbye.dropped should be every message published", ls.name)
			dropped += ls.goodbye.GetDropped()
			continue
		}
		assert.Empty(t, ls.seqs, "%s: messages after the last batch, before Goodbye", ls.name)
		assert.Zero(t, ls.goodbye.GetDropped(), "%s kept up, yet its Goodbye counts drops", ls.name)
	}
	t.Logf("%d subscribers (%d slow, %d joined and left) x %d messages: slow subscribers dropped %d in all; "+
		"goroutines %d -> %d at peak; heap in use before shutdown %d MiB",
		size, slowCount, churners, messages, dropped, baseGoroutines, peakGoroutines, heap.HeapInuse>>20)
	assert.LessOrEqual(t, peakGoroutines-baseGoroutines, 4*size,
		"goroutines started for %d subscribers: a few per stream are expected, more means goroutines per event", size)
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

// startBareHub serves a new hub in memory, like startHub but on serveBare:
// recording a thousand streams would double the load test's cost and print
// nothing anyone could read.
func startBareHub(t *testing.T, queueSize int) (*pubsub.Hub, pubsubpb.HubClient, *grpc.Server) {
	t.Helper()
	harness.See(t)
	hub := pubsub.NewHub(queueSize)
	conn, gs := serveBare(t, func(s *grpc.Server) { pubsubpb.RegisterHubServer(s, pubsub.NewServer(hub)) })
	t.Cleanup(func() { closeHub(t, hub) }) // runs before the server stops: no handler is left waiting
	return hub, pubsubpb.NewHubClient(conn), gs
}
