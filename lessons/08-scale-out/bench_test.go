package scaleout_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/grpc-workbook/streaming/internal/harness"
	"github.com/grpc-workbook/streaming/lessons/05-pubsub/pubsubpb"
	scaleout "github.com/grpc-workbook/streaming/lessons/08-scale-out"
	"github.com/grpc-workbook/streaming/lessons/08-scale-out/scaleoutpb"
	pubsub "github.com/grpc-workbook/streaming/solutions/05-pubsub"
)

// benchBatch is how many events one benchmark round delivers each way.
const benchBatch = 512

// serveBare serves register's service on bufconn with a plain gRPC server,
// none of the harness's recording in between, and returns a connection to
// it. Everything stops when the benchmark ends.
func serveBare(b *testing.B, register func(*grpc.Server)) *grpc.ClientConn {
	lis := bufconn.Listen(1 << 20)
	s := grpc.NewServer()
	register(s)
	go s.Serve(lis) //nolint:errcheck // returns at Stop
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close(); s.Stop() })
	return conn
}

// BenchmarkScaleOut_BrokerVsHub measures, in one run, how many events per
// second reach a subscriber two ways, over bufconn both:
//
//   - broker: published on replica A (your Publish: one JetStream publish,
//     acknowledged, per event), delivered by replica B (your Subscribe: its
//     consumer, then Send);
//   - hub: lesson 05's reference hub in one process (hub.Publish, a queue,
//     its Subscribe handler, Send).
//
// Each round times one batch each way, alternately, so both see the same
// machine. broker/hub is the ratio.
func BenchmarkScaleOut_BrokerVsHub(b *testing.B) {
	harness.See(b)
	dir := b.TempDir()
	broker, err := scaleout.StartBroker(dir, 1<<20)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(broker.Close)
	var replicas []*scaleout.Replica
	for _, name := range []string{"A", "B"} {
		nc, err := broker.Connect()
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(nc.Close)
		r, err := scaleout.NewReplica(name, nc)
		if err != nil {
			b.Fatal(err)
		}
		replicas = append(replicas, r)
	}
	publisher := replicas[0]
	brokerConn := serveBare(b, func(s *grpc.Server) { scaleoutpb.RegisterHubServer(s, replicas[1]) })

	hub := pubsub.NewHub(benchBatch)
	b.Cleanup(hub.Close)
	hubConn := serveBare(b, func(s *grpc.Server) { pubsubpb.RegisterHubServer(s, pubsub.NewServer(hub)) })

	ctx, cancel := context.WithCancel(b.Context())
	b.Cleanup(cancel)
	brokerStream, err := scaleoutpb.NewHubClient(brokerConn).Subscribe(ctx, &scaleoutpb.SubscribeRequest{})
	if err != nil {
		b.Fatal(err)
	}
	hubStream, err := pubsubpb.NewHubClient(hubConn).Subscribe(ctx, &pubsubpb.SubscribeRequest{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := hubStream.Recv(); err != nil { // First: registered
		b.Fatal(err)
	}

	var brokerTime, hubTime time.Duration
	id := 0
	for b.Loop() {
		start := time.Now()
		for range benchBatch {
			id++
			req := &scaleoutpb.PublishRequest{RequestId: fmt.Sprint(id), Payload: "benchmark payload"}
			if _, err := publisher.Publish(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
		for range benchBatch {
			if _, err := brokerStream.Recv(); err != nil {
				b.Fatalf("Recv from replica B: %v", err)
			}
		}
		brokerTime += time.Since(start)

		start = time.Now()
		for range benchBatch {
			if _, _, err := hub.Publish("benchmark payload"); err != nil {
				b.Fatal(err)
			}
		}
		for range benchBatch {
			if _, err := hubStream.Recv(); err != nil {
				b.Fatalf("Recv from the hub: %v", err)
			}
		}
		hubTime += time.Since(start)
	}
	events := float64(b.N * benchBatch)
	brokerRate, hubRate := events/brokerTime.Seconds(), events/hubTime.Seconds()
	b.ReportMetric(brokerRate, "broker-events/s")
	b.ReportMetric(hubRate, "hub-events/s")
	b.ReportMetric(brokerRate/hubRate, "broker/hub")
}
