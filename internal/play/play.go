// Package play serves a lesson's service on a real TCP port, so that a person
// can call it with grpcurl or evans and watch its streams move. It is the
// machinery the per-lesson programs in internal/play/NN-slug share; each of
// those builds its lesson's server and says what to send it, and
// `go run ./cmd/workbook play LESSON` builds and runs it.
//
// A lesson whose service runs as several replicas (lesson 08) gets one
// server per replica, each on a port of its own.
//
// Besides the lesson's services, the server has server reflection (so a
// client needs no .proto file) and the standard health service. Before it
// serves, play calls every method of a private copy of the server once, with
// an empty request, and lists the methods that answer Unimplemented: the ones
// the learner has not written yet.
package play

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Lesson is what a play program says about its lesson.
type Lesson struct {
	// ID is the lesson's folder name, "05-pubsub".
	ID string
	// New builds the lesson's server: a *grpc.Server with the lesson's
	// services registered and whatever feeds them (a ticker, a live log)
	// already running. It returns the server and stop, the shutdown the
	// lesson teaches, which ends with s.GracefulStop() or s.Stop(). The
	// server's own messages (a log line per call, a worker leaving) go to
	// log. play calls New twice: for the server people call, and for a
	// private copy it probes for methods not implemented yet, whose log is
	// io.Discard.
	New func(log io.Writer) (s *grpc.Server, stop func())
	// Samples are example requests in JSON, by method name ("Publish"): one
	// for a unary or server-streaming method, one or more for a client or
	// bidi stream. A method without a sample gets {}.
	Samples map[string][]string
	// Headers is metadata every call needs, "key: value" each (lesson 07's
	// "authorization: Bearer ..."). Most lessons need none.
	Headers []string
	// About says, a line each, what moves on its own and what Ctrl-C does
	// (its last line).
	About []string

	// Replicas names the servers of a lesson whose service runs as several
	// identical replicas (lesson 08's, behind one broker): play serves one
	// per name, each on a port of its own, built by NewReplica instead of
	// New (the probed copy is named "probe"). Ctrl-C stops them in this
	// order. Other lessons leave Replicas and NewReplica unset.
	Replicas   []string
	NewReplica func(name string, log io.Writer) (s *grpc.Server, stop func())
	// After, if set, runs once Main has stopped every server, and also when
	// Main fails before serving: what the servers shared (lesson 08's
	// broker) stops last.
	After func()
}

// build builds one server of l; name is the replica's, for a lesson with
// replicas.
func (l Lesson) build(name string, log io.Writer) (*grpc.Server, func()) {
	if l.NewReplica != nil {
		return l.NewReplica(name, log)
	}
	return l.New(log)
}

// Times play allows. Variables, so that tests may shorten them.
var (
	// ProbeWait is how long a probe call may run. A stub answers
	// Unimplemented at once; a method that is still running after this is
	// written (it waits for something, as a stream does).
	ProbeWait = 300 * time.Millisecond
	// GraceLimit is how long the lesson's stop may take before play stops
	// the server hard: GracefulStop waits for every open call, and a
	// handler that never returns would hold it forever.
	GraceLimit = 5 * time.Second
)

// Stub is a method that answered Unimplemented to the probe.
type Stub struct {
	Method  string // "workbook.pubsub.v1.Hub/Subscribe"
	Message string // the status message, "Subscribe is not implemented yet (lesson 05, task 6)"
}

// Server is a lesson's server, serving on a real listener.
type Server struct {
	Lesson Lesson
	Name   string // the replica's name, for a lesson with replicas; else ""
	Addr   string // where it listens, "127.0.0.1:40123"
	// Stubs are the methods not implemented yet, in the order printed.
	Stubs []Stub

	grpc    *grpc.Server
	stop    func()
	health  *health.Server
	lis     *watchedListener
	served  chan error
	methods []method // every method of the lesson's services, in .proto order
}

// method is one method of a lesson's service.
type method struct {
	full string // "workbook.pubsub.v1.Hub/Subscribe"
	desc protoreflect.MethodDescriptor
}

// Start builds l's server, probes a copy of it for stubs, and serves it on
// lis until Shutdown. log receives the server's own messages.
func Start(l Lesson, lis net.Listener, log io.Writer) (*Server, error) {
	stubs, err := probe(l)
	if err != nil {
		return nil, err
	}
	return serve(l, "", stubs, lis, log)
}

// serve builds the server named name (see Lesson.Replicas) and serves it
// on lis; stubs are what the probe found.
func serve(l Lesson, name string, stubs []Stub, lis net.Listener, log io.Writer) (*Server, error) {
	s, stop := l.build(name, log)
	methods, err := methodsOf(s) // the probe found them already: no error
	if err != nil {
		s.Stop()
		return nil, err
	}
	// Health: SERVING for the server as a whole ("", set by NewServer) and
	// for each of the lesson's services, until Shutdown.
	hs := health.NewServer()
	for _, name := range serviceNames(s) {
		hs.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	healthpb.RegisterHealthServer(s, hs)
	reflection.Register(s) // v1 and v1alpha: grpcurl and evans ask for either
	p := &Server{
		Lesson: l, Name: name, Addr: lis.Addr().String(), Stubs: stubs,
		grpc: s, stop: stop, health: hs, methods: methods,
		lis:    &watchedListener{Listener: lis},
		served: make(chan error, 1),
	}
	go func() { p.served <- s.Serve(p.lis) }()
	return p, nil
}

// Shutdown stops the server the way the lesson teaches, and returns what
// went wrong on the way, a sentence each: nothing, for a lesson whose
// shutdown is written.
func (p *Server) Shutdown() []string {
	// Health checkers hear NOT_SERVING first, so a load balancer would send
	// no new calls while the open ones finish.
	p.health.Shutdown()
	return halt(p.grpc, p.stop, p.lis, p.served)
}

// halt runs stop, the lesson's shutdown of s, and makes sure s has stopped
// even when stop does not stop it (a stub) or waits too long (a handler
// that never returns). It returns once s.Serve has returned.
func halt(s *grpc.Server, stop func(), lis *watchedListener, served <-chan error) []string {
	var notes []string
	done := make(chan struct{})
	go func() { defer close(done); stop() }()
	select {
	case <-done:
		if !lis.isClosed() {
			notes = append(notes, "the lesson's shutdown returned with the server still running (is it written yet?), so play stopped it with Stop")
			s.Stop()
		}
	case <-time.After(GraceLimit):
		notes = append(notes, fmt.Sprintf("the lesson's shutdown was still waiting after %v, so play stopped the server with Stop: "+
			"GracefulStop waits for every open call, and some handler did not return", GraceLimit))
		s.Stop()
	}
	<-served
	return notes
}

// watchedListener is a net.Listener that knows whether it was closed:
// grpc.Server closes its listeners when it stops, so a closed listener
// means the lesson's shutdown did stop the server.
type watchedListener struct {
	net.Listener
	mu     sync.Mutex
	closed bool
}

func (w *watchedListener) Close() error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	return w.Listener.Close()
}

func (w *watchedListener) isClosed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.closed
}

// serviceNames are the services registered on s, sorted.
func serviceNames(s *grpc.Server) []string {
	var names []string
	for name := range s.GetServiceInfo() {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// methodsOf lists the methods of s's services from their descriptors,
// which the generated code registered with protoregistry.
func methodsOf(s *grpc.Server) ([]method, error) {
	var all []method
	for _, name := range serviceNames(s) {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			return nil, fmt.Errorf("service %s: no descriptor: %w", name, err)
		}
		sd, ok := d.(protoreflect.ServiceDescriptor)
		if !ok {
			return nil, fmt.Errorf("%s is not a service", name)
		}
		for i := range sd.Methods().Len() {
			md := sd.Methods().Get(i)
			all = append(all, method{full: name + "/" + string(md.Name()), desc: md})
		}
	}
	return all, nil
}

// checkSamples makes sure every sample names a method and is a valid
// request for it, and that it can be pasted between single quotes.
func checkSamples(l Lesson, methods []method) error {
	for name, samples := range l.Samples {
		i := slices.IndexFunc(methods, func(m method) bool { return string(m.desc.Name()) == name })
		if i < 0 {
			return fmt.Errorf("sample for %s: the lesson has no such method", name)
		}
		for _, js := range samples {
			msg := dynamicpb.NewMessage(methods[i].desc.Input())
			if err := protojson.Unmarshal([]byte(js), msg); err != nil {
				return fmt.Errorf("sample for %s, %s: %w", name, js, err)
			}
			if strings.Contains(js, "'") {
				return fmt.Errorf("sample for %s, %s: a single quote cannot be pasted in a shell", name, js)
			}
		}
	}
	return nil
}

// probe calls every method of a fresh copy of l's server once, with an
// empty request, and returns those that answer Unimplemented. Each call
// gets ProbeWait; they run at once. It checks l's samples first.
func probe(l Lesson) ([]Stub, error) {
	s, stop := l.build("probe", io.Discard)
	lis := &watchedListener{Listener: bufconn.Listen(1 << 20)}
	served := make(chan error, 1)
	methods, err := methodsOf(s)
	go func() { served <- s.Serve(lis) }()
	defer halt(s, stop, lis, served)
	if err != nil {
		return nil, err
	}
	if err := checkSamples(l, methods); err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient("passthrough:///probe",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return lis.Listener.(*bufconn.Listener).DialContext(ctx)
		}),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	// Connect first, so that ProbeWait times the calls alone.
	ready, cancel := context.WithTimeout(context.Background(), GraceLimit)
	defer cancel()
	conn.Connect()
	for st := conn.GetState(); st != connectivity.Ready; st = conn.GetState() {
		if !conn.WaitForStateChange(ready, st) {
			return nil, fmt.Errorf("probing for stubs: no connection to the server copy (%v)", st)
		}
	}

	stubs := make([]*Stub, len(methods))
	var wg sync.WaitGroup
	for i, m := range methods {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), ProbeWait)
			defer cancel()
			ctx = metadata.NewOutgoingContext(ctx, headerMD(l.Headers))
			if st := status.Convert(callOnce(ctx, conn, m)); st.Code() == codes.Unimplemented {
				stubs[i] = &Stub{Method: m.full, Message: st.Message()}
			}
		})
	}
	wg.Wait()
	var found []Stub
	for _, st := range stubs {
		if st != nil {
			found = append(found, *st)
		}
	}
	return found, nil
}

// callOnce calls m with an empty request (no message at all on a client
// stream) and returns the call's status as an error: nil if the first
// answer was a message.
func callOnce(ctx context.Context, conn *grpc.ClientConn, m method) error {
	desc := &grpc.StreamDesc{ServerStreams: m.desc.IsStreamingServer(), ClientStreams: m.desc.IsStreamingClient()}
	stream, err := conn.NewStream(ctx, desc, "/"+m.full)
	if err != nil {
		return err
	}
	if !desc.ClientStreams {
		// io.EOF means the call is over; RecvMsg says how.
		if err := stream.SendMsg(dynamicpb.NewMessage(m.desc.Input())); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	return stream.RecvMsg(dynamicpb.NewMessage(m.desc.Output()))
}

// headerMD turns "key: value" lines into metadata.
func headerMD(headers []string) metadata.MD {
	md := metadata.MD{}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		md.Append(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	return md
}

// Main is a play program's main: it serves l on --addr (127.0.0.1 and a
// free port unless told otherwise; a lesson's further replicas get free
// ports on the same host), prints how to call it, and stops the way the
// lesson teaches on Ctrl-C (SIGINT) or SIGTERM. Then it runs l.After.
func Main(l Lesson) {
	err := run(l)
	if l.After != nil {
		l.After()
	}
	var usage usageError
	switch {
	case errors.As(err, &usage):
		fmt.Fprintf(os.Stderr, "play: %v\nusage: play [--addr HOST:PORT] [--code yours|solution]\n", err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintf(os.Stderr, "play: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stdout, "Stopped.")
}

// run serves l until a signal, and shuts it down.
func run(l Lesson) error {
	addr, code, err := parseFlags(os.Args[1:])
	if err != nil {
		return usageError{err}
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	names := l.Replicas
	if len(names) == 0 {
		names = []string{""} // one server, no name
	}
	listeners, err := listen(addr, len(names))
	if err != nil {
		return err
	}
	var servers []*Server
	// stopAll stops the servers in order, noting what went wrong.
	stopAll := func() {
		for _, p := range servers {
			for _, note := range p.Shutdown() {
				if p.Name != "" {
					note = "replica " + p.Name + ": " + note
				}
				fmt.Fprintln(os.Stdout, "Note:", note)
			}
		}
	}
	stubs, err := probe(l)
	if err != nil {
		closeAll(listeners)
		return err
	}
	for i, name := range names {
		p, err := serve(l, name, stubs, listeners[i], os.Stdout)
		if err != nil {
			closeAll(listeners[i:])
			stopAll()
			return err
		}
		servers = append(servers, p)
	}
	printIntro(os.Stdout, code, servers)
	<-ctx.Done()
	// Later signals (the runner passes Ctrl-C on as well) change nothing:
	// GraceLimit bounds the wait.
	fmt.Fprintln(os.Stdout, "\nStopping...")
	stopAll()
	return nil
}

// listen opens n listeners: the first on addr, the others on free ports of
// its host.
func listen(addr string, n int) ([]net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, usageError{err}
	}
	var listeners []net.Listener
	for i := range n {
		if i > 0 {
			addr = net.JoinHostPort(host, "0")
		}
		lis, err := net.Listen("tcp", addr)
		if err != nil {
			closeAll(listeners)
			return nil, err
		}
		listeners = append(listeners, lis)
	}
	return listeners, nil
}

// usageError is a mistake in play's flags.
type usageError struct{ error }

func closeAll(listeners []net.Listener) {
	for _, lis := range listeners {
		lis.Close()
	}
}

// parseFlags reads --addr HOST:PORT and --code yours|solution (which only
// says, in the banner, whose code this is: the runner builds the program
// with the solution in place for `play --solution`).
func parseFlags(args []string) (addr, code string, err error) {
	addr, code = "127.0.0.1:0", "yours"
	for i := 0; i < len(args); i++ {
		flag := args[i]
		name, value, hasValue := strings.Cut(strings.TrimLeft(flag, "-"), "=")
		if !hasValue {
			if i+1 >= len(args) {
				return "", "", fmt.Errorf("%s needs a value", flag)
			}
			i++
			value = args[i]
		}
		switch name {
		case "addr":
			addr = value
		case "code":
			if value != "yours" && value != "solution" {
				return "", "", fmt.Errorf("--code is yours or solution, not %q", value)
			}
			code = value
		default:
			return "", "", fmt.Errorf("unknown flag %s", flag)
		}
	}
	return addr, code, nil
}
