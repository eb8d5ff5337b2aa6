package pubsub_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/grpc-workbook/streaming/internal/harness"
	pubsub "github.com/grpc-workbook/streaming/lessons/05-pubsub"
	"github.com/grpc-workbook/streaming/lessons/05-pubsub/pubsubpb"
)

// benchBatch is how many events one benchmark round delivers each way.
const benchBatch = 512

// bareHub is the baseline: a Subscribe handler that sends benchBatch Message
// events each time the benchmark asks, straight from its own loop, with no
// hub, queue or lock in between.
type bareHub struct {
	pubsubpb.UnimplementedHubServer
	rounds chan struct{}
}

func (h *bareHub) Subscribe(_ *pubsubpb.SubscribeRequest, stream grpc.ServerStreamingServer[pubsubpb.Event]) error {
	var seq uint64
	for {
		select {
		case <-h.rounds:
		case <-stream.Context().Done():
			return nil
		}
		for range benchBatch {
			seq++
			ev := &pubsubpb.Event{Kind: &pubsubpb.Event_Message{Message: &pubsubpb.Message{Seq: seq, Payload: "benchmark payload"}}}
			if err := stream.Send(ev); err != nil {
				return err
			}
		}
	}
}

// receive reads n events from stream.
func receive(b *testing.B, stream eventStream, n int) {
	for range n {
		if _, err := stream.Recv(); err != nil {
			b.Fatalf("Recv: %v", err)
		}
	}
}

// BenchmarkPubSub_HubVsBareStream measures, in one run, how many events per
// second reach a subscriber over bufconn through your hub (hub.Publish, the
// queue, your Subscribe handler) and through a bare server stream that sends
// the same events itself. Each round times one batch each way, alternating,
// so both see the same machine. hub/bare is the ratio: the hub's cost. Both
// servers run on serveBare, so nothing of the test harness is measured.
func BenchmarkPubSub_HubVsBareStream(b *testing.B) {
	harness.See(b)
	hub := pubsub.NewHub(benchBatch)
	hubConn, _ := serveBare(b, func(s *grpc.Server) { pubsubpb.RegisterHubServer(s, pubsub.NewServer(hub)) })
	b.Cleanup(hub.Close)
	bare := &bareHub{rounds: make(chan struct{})}
	bareConn, _ := serveBare(b, func(s *grpc.Server) { pubsubpb.RegisterHubServer(s, bare) })

	ctx, cancel := context.WithCancel(b.Context())
	b.Cleanup(cancel)
	hubStream, err := pubsubpb.NewHubClient(hubConn).Subscribe(ctx, &pubsubpb.SubscribeRequest{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	receive(b, hubStream, 1) // First: registered
	bareStream, err := pubsubpb.NewHubClient(bareConn).Subscribe(ctx, &pubsubpb.SubscribeRequest{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}

	var hubTime, bareTime time.Duration
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		for range benchBatch {
			if _, _, err := hub.Publish("benchmark payload"); err != nil {
				b.Fatal(err)
			}
		}
		receive(b, hubStream, benchBatch)
		hubTime += time.Since(start)

		start = time.Now()
		bare.rounds <- struct{}{}
		receive(b, bareStream, benchBatch)
		bareTime += time.Since(start)
	}
	events := float64(b.N * benchBatch)
	hubRate, bareRate := events/hubTime.Seconds(), events/bareTime.Seconds()
	b.ReportMetric(hubRate, "hub-events/s")
	b.ReportMetric(bareRate, "bare-events/s")
	b.ReportMetric(hubRate/bareRate, "hub/bare")
}
