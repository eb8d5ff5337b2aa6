package play

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/grpc-workbook/streaming/lessons/03-client-stream/sensorpb"
	"github.com/grpc-workbook/streaming/lessons/04-bidi/bidipb"
	"github.com/grpc-workbook/streaming/lessons/05-pubsub/pubsubpb"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The test lesson serves three of the workbook's generated services with
// small fakes: lesson 05's Hub (Subscribe written, Publish a stub unless the
// call carries the lesson's header), lesson 03's Hub (nothing written: the
// generated Unimplemented answers) and lesson 04's Calculator (written).

type fakeHub struct {
	pubsubpb.UnimplementedHubServer
	quit    <-chan struct{} // closed by the lesson's stop: Subscribe ends
	release <-chan struct{} // when not nil, Subscribe ignores its context and waits for this
	log     io.Writer
}

// Subscribe sends First, then waits. Without a name it sends nothing: the
// probe's empty request finds it still running, as a stream that waits for
// events is.
func (h *fakeHub) Subscribe(req *pubsubpb.SubscribeRequest, stream grpc.ServerStreamingServer[pubsubpb.Event]) error {
	io.WriteString(h.log, "subscribed "+req.GetName()+"\n")
	if req.GetName() == "" {
		<-stream.Context().Done()
		return status.FromContextError(stream.Context().Err()).Err()
	}
	if err := stream.Send(&pubsubpb.Event{Kind: &pubsubpb.Event_First{First: &pubsubpb.First{Name: req.GetName()}}}); err != nil {
		return err
	}
	if h.release != nil {
		<-h.release
		return nil
	}
	select {
	case <-h.quit:
		return nil
	case <-stream.Context().Done():
		return status.FromContextError(stream.Context().Err()).Err()
	}
}

func (h *fakeHub) Publish(ctx context.Context, req *pubsubpb.PublishRequest) (*pubsubpb.PublishReply, error) {
	if len(metadata.ValueFromIncomingContext(ctx, "authorization")) == 0 {
		return nil, status.Error(codes.Unimplemented, "Publish is not implemented yet (lesson 05, task 6)")
	}
	return &pubsubpb.PublishReply{Seq: 1}, nil
}

type uploads struct {
	sensorpb.UnimplementedHubServer
}

type calculator struct {
	bidipb.UnimplementedCalculatorServer
}

func (calculator) Calculate(stream bidipb.Calculator_CalculateServer) error {
	for {
		if _, err := stream.Recv(); err != nil {
			return nil
		}
	}
}

// testLesson returns the test lesson and a count of the servers it built.
// stop is the lesson's shutdown: nil for the right one (end the streams,
// then GracefulStop).
func testLesson(release <-chan struct{}, stop func(s *grpc.Server)) (Lesson, *atomic.Int32) {
	built := &atomic.Int32{}
	l := Lesson{
		ID: "05-test",
		New: func(log io.Writer) (*grpc.Server, func()) {
			built.Add(1)
			quit := make(chan struct{})
			s := grpc.NewServer()
			pubsubpb.RegisterHubServer(s, &fakeHub{quit: quit, release: release, log: log})
			sensorpb.RegisterHubServer(s, uploads{})
			bidipb.RegisterCalculatorServer(s, calculator{})
			if stop != nil {
				return s, func() { stop(s) }
			}
			return s, func() { close(quit); s.GracefulStop() }
		},
		Samples: map[string][]string{
			"Subscribe": {`{"name": "ada"}`},
			"Upload":    {`{"decicelsius": 215}`, `{"decicelsius": 198}`},
		},
		About: []string{"Ctrl-C ends every stream, then GracefulStop."},
	}
	return l, built
}

// lockedBuffer is the server's log: handlers write it while the test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// start serves l on a free port of 127.0.0.1 and returns it with a client
// connection over TCP. Everything stops when the test ends.
func start(t *testing.T, l Lesson) (*Server, *grpc.ClientConn, *lockedBuffer) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	log := &lockedBuffer{}
	p, err := Start(l, lis, log)
	require.NoError(t, err)
	conn, err := grpc.NewClient(p.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return p, conn, log
}

func ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestPlay_Reflection_ListsServices_DescribesAMethod(t *testing.T) {
	t.Parallel()
	l, _ := testLesson(nil, nil)
	p, conn, _ := start(t, l)
	defer p.Shutdown()

	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx(t))
	require.NoError(t, err)
	require.NoError(t, stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}))
	reply, err := stream.Recv()
	require.NoError(t, err)
	var names []string
	for _, s := range reply.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	assert.ElementsMatch(t, []string{
		"workbook.pubsub.v1.Hub", "workbook.clientstream.v1.Hub", "workbook.bidi.v1.Calculator",
		"grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection",
	}, names, "the services reflection lists")

	// grpcurl's "describe": the file that defines a method, as a descriptor.
	require.NoError(t, stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "workbook.pubsub.v1.Hub.Subscribe"}}))
	reply, err = stream.Recv()
	require.NoError(t, err)
	files := reply.GetFileDescriptorResponse().GetFileDescriptorProto()
	require.NotEmpty(t, files, "reflection's answer: %v", reply)
	var fd descriptorpb.FileDescriptorProto
	require.NoError(t, proto.Unmarshal(files[0], &fd))
	require.Len(t, fd.GetService(), 1)
	var subscribe *descriptorpb.MethodDescriptorProto
	for _, m := range fd.GetService()[0].GetMethod() {
		if m.GetName() == "Subscribe" {
			subscribe = m
		}
	}
	require.NotNil(t, subscribe, "Subscribe in %v", fd.GetService()[0])
	assert.Equal(t, ".workbook.pubsub.v1.SubscribeRequest", subscribe.GetInputType())
	assert.Equal(t, ".workbook.pubsub.v1.Event", subscribe.GetOutputType())
	assert.True(t, subscribe.GetServerStreaming(), "Subscribe is a server stream")
	assert.False(t, subscribe.GetClientStreaming(), "Subscribe is not a client stream")
	require.NoError(t, stream.CloseSend())
}

func TestPlay_GeneratedClient_StreamsOverTCP_HealthSaysServing(t *testing.T) {
	t.Parallel()
	l, _ := testLesson(nil, nil)
	p, conn, log := start(t, l)
	defer p.Shutdown()

	events, err := pubsubpb.NewHubClient(conn).Subscribe(ctx(t), &pubsubpb.SubscribeRequest{Name: "ada"})
	require.NoError(t, err)
	first, err := events.Recv()
	require.NoError(t, err)
	assert.Equal(t, "ada", first.GetFirst().GetName(), "the First event")
	assert.Equal(t, "subscribed ada\n", log.String(), "the server's log: the served copy's, not the probe's")

	health := healthpb.NewHealthClient(conn)
	for _, service := range []string{"", "workbook.pubsub.v1.Hub", "workbook.bidi.v1.Calculator"} {
		res, err := health.Check(ctx(t), &healthpb.HealthCheckRequest{Service: service})
		require.NoError(t, err, "health of %q", service)
		assert.Equal(t, healthpb.HealthCheckResponse_SERVING, res.GetStatus(), "health of %q", service)
	}
}

func TestPlay_Probe_ListsStubs_OnACopy_WithTheLessonsHeaders(t *testing.T) {
	t.Parallel()
	l, built := testLesson(nil, nil)
	p, _, _ := start(t, l)
	defer p.Shutdown()

	assert.Equal(t, int32(2), built.Load(), "servers built: one probed, one served")
	assert.Equal(t, []Stub{ // by service name, then in .proto order
		{"workbook.clientstream.v1.Hub/Upload", "method Upload not implemented"},
		{"workbook.clientstream.v1.Hub/Ack", "method Ack not implemented"},
		{"workbook.pubsub.v1.Hub/Publish", "Publish is not implemented yet (lesson 05, task 6)"},
	}, p.Stubs, "Subscribe (still running when the probe gave up) and Calculate (OK) are written")

	l.Headers = []string{"authorization: Bearer t"}
	withHeader, _, _ := start(t, l)
	defer withHeader.Shutdown()
	assert.Len(t, withHeader.Stubs, 2, "with the header, Publish is written: %v", withHeader.Stubs)
}

func TestPlay_Intro_CommandsForEveryMethod(t *testing.T) {
	t.Parallel()
	l, _ := testLesson(nil, nil)
	l.Headers = []string{"authorization: Bearer t"}
	p, _, _ := start(t, l)
	defer p.Shutdown()
	var out strings.Builder
	p.PrintIntro(&out, "solution")
	text := strings.ReplaceAll(out.String(), p.Addr, "ADDR")
	_, port, _ := net.SplitHostPort(p.Addr)
	text = strings.ReplaceAll(text, "--port "+port, "--port PORT")

	for _, want := range []string{
		"Lesson 05, the reference solution (solutions/05-test), serving on ADDR\n",
		"127.0.0.1 is the loopback address",
		"0.0.0.0",
		// A server stream: the sample request in -d; metadata with -H.
		"workbook.pubsub.v1.Hub/Subscribe (server stream)\n" +
			"  grpcurl -plaintext -H 'authorization: Bearer t' -d '{\"name\": \"ada\"}' ADDR workbook.pubsub.v1.Hub/Subscribe\n" +
			"  echo '{\"name\": \"ada\"}' | evans -r --host 127.0.0.1 --port PORT --header 'authorization=Bearer t' cli call workbook.pubsub.v1.Hub.Subscribe\n",
		// A unary method with no sample: {}.
		"workbook.pubsub.v1.Hub/Publish (unary)\n" +
			"  grpcurl -plaintext -H 'authorization: Bearer t' -d '{}' ADDR workbook.pubsub.v1.Hub/Publish\n",
		// Client and bidi streams read their messages from stdin: -d @.
		"workbook.clientstream.v1.Hub/Upload (client stream: type or paste one JSON message a line; Ctrl-D closes your side)\n" +
			"  grpcurl -plaintext -H 'authorization: Bearer t' -d @ ADDR workbook.clientstream.v1.Hub/Upload\n" +
			"    {\"decicelsius\": 215}\n" +
			"    {\"decicelsius\": 198}\n" +
			"  echo '{\"decicelsius\": 215} {\"decicelsius\": 198}' | evans -r --host 127.0.0.1 --port PORT --header 'authorization=Bearer t' cli call workbook.clientstream.v1.Hub.Upload\n",
		"workbook.bidi.v1.Calculator/Calculate (bidi stream: ",
		"Ctrl-C ends every stream, then GracefulStop.\n",
	} {
		assert.Contains(t, text, want)
	}
	assert.Contains(t, text, "Not implemented yet (each answers Unimplemented until you write it, then restart play):\n"+
		"  workbook.clientstream.v1.Hub/Upload: method Upload not implemented\n"+
		"  workbook.clientstream.v1.Hub/Ack: method Ack not implemented\n\n", "with the header, Publish is written")

	l.Headers = nil
	stubbed, _, _ := start(t, l)
	defer stubbed.Shutdown()
	out.Reset()
	stubbed.PrintIntro(&out, "yours")
	assert.Contains(t, out.String(), "Lesson 05, your code (lessons/05-test), serving on ")
	assert.Contains(t, out.String(), "  workbook.pubsub.v1.Hub/Publish: Publish is not implemented yet (lesson 05, task 6)\n",
		"without the header, Publish is a stub")
}

// A lesson with replicas: each is built by name (the probed copy is
// "probe"), serves on a port of its own with health, and gets commands of
// its own in the intro.
func TestPlay_Replicas_EachBuiltByName_OnItsOwnPort_WithItsOwnCommands(t *testing.T) {
	t.Parallel()
	l, _ := testLesson(nil, nil)
	var mu sync.Mutex
	var names []string
	l.Replicas = []string{"A", "B"}
	l.NewReplica = func(name string, log io.Writer) (*grpc.Server, func()) {
		mu.Lock()
		names = append(names, name)
		mu.Unlock()
		return l.New(log)
	}
	lis, err := listen("127.0.0.1:0", 2)
	require.NoError(t, err)
	stubs, err := probe(l)
	require.NoError(t, err)
	var servers []*Server
	for i, name := range l.Replicas {
		p, err := serve(l, name, stubs, lis[i], io.Discard)
		require.NoError(t, err)
		defer p.Shutdown()
		servers = append(servers, p)
	}
	assert.Equal(t, []string{"probe", "A", "B"}, names, "the replicas built, by name")
	require.NotEqual(t, servers[0].Addr, servers[1].Addr)

	var out strings.Builder
	printIntro(&out, "solution", servers)
	assert.Contains(t, out.String(), "Lesson 05, the reference solution (solutions/05-test), serving 2 replicas:\n"+
		"  replica A on "+servers[0].Addr+"\n  replica B on "+servers[1].Addr+"\n")
	for _, p := range servers {
		assert.Equal(t, stubs, p.Stubs, "one probe for every replica")
		assert.Contains(t, out.String(), "\nOn replica "+p.Name+" ("+p.Addr+"):\n\n")
		assert.Contains(t, out.String(), "  grpcurl -plaintext -d '{\"name\": \"ada\"}' "+p.Addr+" workbook.pubsub.v1.Hub/Subscribe\n")
		conn, err := grpc.NewClient(p.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		defer conn.Close()
		res, err := healthpb.NewHealthClient(conn).Check(ctx(t), &healthpb.HealthCheckRequest{})
		require.NoError(t, err, "replica %s's health", p.Name)
		assert.Equal(t, healthpb.HealthCheckResponse_SERVING, res.GetStatus(), "replica %s", p.Name)
	}
}

func TestPlay_Listen_FirstOnAddr_OthersOnFreePortsOfItsHost(t *testing.T) {
	t.Parallel()
	taken, err := listen("127.0.0.1:0", 1)
	require.NoError(t, err)
	defer closeAll(taken)
	addr := taken[0].Addr().String()
	_, err = listen(addr, 2)
	require.Error(t, err, "the first address is taken")

	closeAll(taken)
	lis, err := listen(addr, 2) // free again: the first gets it
	require.NoError(t, err)
	defer closeAll(lis)
	require.Len(t, lis, 2)
	assert.Equal(t, addr, lis[0].Addr().String())
	host, _, _ := net.SplitHostPort(lis[1].Addr().String())
	assert.Equal(t, "127.0.0.1", host)
	assert.NotEqual(t, addr, lis[1].Addr().String())

	_, err = listen("localhost", 2)
	var usage usageError
	assert.ErrorAs(t, err, &usage, "no port: a usage error")
}

func TestPlay_Samples_MustBeValidRequests(t *testing.T) {
	t.Parallel()
	for name, samples := range map[string]map[string][]string{
		"no such method":  {"Unsubscribe": {`{}`}},
		"no such field":   {"Subscribe": {`{"nme": "ada"}`}},
		"not JSON":        {"Subscribe": {`name=ada`}},
		"a single quote":  {"Subscribe": {`{"name": "o'brien"}`}},
		"one of several ": {"Upload": {`{"decicelsius": 1}`, `{"decicelsius": "warm"}`}},
	} {
		l, _ := testLesson(nil, nil)
		l.Samples = samples
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		_, err = Start(l, lis, io.Discard)
		assert.Error(t, err, name)
		lis.Close()
	}
}

// subscribed subscribes as ada and waits for the First event.
func subscribed(t *testing.T, conn *grpc.ClientConn) grpc.ServerStreamingClient[pubsubpb.Event] {
	t.Helper()
	events, err := pubsubpb.NewHubClient(conn).Subscribe(ctx(t), &pubsubpb.SubscribeRequest{Name: "ada"})
	require.NoError(t, err)
	_, err = events.Recv()
	require.NoError(t, err)
	return events
}

func TestPlay_Shutdown_TheLessonsWay_StreamsEndWithOK(t *testing.T) {
	t.Parallel()
	l, _ := testLesson(nil, nil)
	p, conn, _ := start(t, l)
	events := subscribed(t, conn)
	assert.Empty(t, p.Shutdown(), "nothing to report: the lesson's stop stopped the server")
	_, err := events.Recv()
	assert.ErrorIs(t, err, io.EOF, "the stream ended with OK")
}

func TestPlay_Shutdown_StubStop_PlayStopsTheServer(t *testing.T) {
	t.Parallel()
	l, _ := testLesson(nil, func(*grpc.Server) {}) // a stub: does nothing
	p, conn, _ := start(t, l)
	events := subscribed(t, conn)

	notes := p.Shutdown()
	require.Len(t, notes, 1)
	assert.Contains(t, notes[0], "returned with the server still running")
	_, err := events.Recv()
	assert.Equal(t, codes.Unavailable, status.Code(err), "Stop broke the stream: %v", err)
}

// Not parallel: it shortens GraceLimit, which the parallel tests read once
// it is back.
func TestPlay_Shutdown_HandlerNeverReturns_StopsHardAfterGraceLimit(t *testing.T) {
	defer func(d time.Duration) { GraceLimit = d }(GraceLimit)
	GraceLimit = 100 * time.Millisecond
	release := make(chan struct{})
	defer close(release) // the stuck handler returns when the test ends
	l, _ := testLesson(release, nil)
	p, conn, _ := start(t, l)
	events := subscribed(t, conn)

	notes := p.Shutdown()
	require.Len(t, notes, 1)
	assert.Contains(t, notes[0], "still waiting after 100ms")
	_, err := events.Recv()
	assert.Equal(t, codes.Unavailable, status.Code(err), "Stop broke the stream: %v", err)
}

func TestPlay_Flags(t *testing.T) {
	t.Parallel()
	addr, code, err := parseFlags(nil)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:0", addr, "the default: loopback, a free port")
	assert.Equal(t, "yours", code)

	addr, code, err = parseFlags([]string{"--addr", "127.0.0.1:5005", "-code=solution"})
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:5005", addr)
	assert.Equal(t, "solution", code)

	for _, bad := range [][]string{{"--addr"}, {"--code", "mine"}, {"--port", "1"}} {
		_, _, err := parseFlags(bad)
		assert.Error(t, err, "%q", bad)
	}
}
