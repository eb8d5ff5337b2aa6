package interceptors_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"

	"github.com/grpc-workbook/streaming/internal/harness"
	interceptors "github.com/grpc-workbook/streaming/lessons/07-interceptors"
	"github.com/grpc-workbook/streaming/lessons/07-interceptors/interceptorspb"
)

// This file holds what the lesson's tests share: fake stations, a scripted
// service, an in-memory server that takes server options (harness.Start
// takes none, and this lesson is about them), a certificate made at test
// start, a fake clock for Expire, and a log writer the tests read.

// --- Readings and stations --------------------------------------------------

// reading is reading number seq of station.
func reading(station string, seq uint64) *interceptorspb.Reading {
	return &interceptorspb.Reading{Station: station, Seq: seq, Celsius: float64(seq) / 2}
}

// readingOfSize is a reading whose encoded size (what gRPC's limits count)
// is exactly size bytes.
func readingOfSize(t *testing.T, size int) *interceptorspb.Reading {
	t.Helper()
	r := reading("summit", 1)
	for n := size; n >= 0; n-- { // the image's length prefix grows with it: find the n that fits
		r.Image = make([]byte, n)
		if proto.Size(r) == size {
			return r
		}
	}
	t.Fatalf("no reading is exactly %d bytes", size)
	return nil
}

// seqs lists the readings' numbers, for messages and comparisons.
func seqs(rs []*interceptorspb.Reading) []uint64 {
	out := []uint64{}
	for _, r := range rs {
		out = append(out, r.GetSeq())
	}
	return out
}

// fakeStations is the Stations the tests drive: each Follow of a known
// station is handed to the test, which sends readings on it and stops it.
type fakeStations struct {
	known   map[string]bool
	follows chan *follow

	// returned receives what each Watch of your Server (see server)
	// returned without having asked Follow, so that nextFollow fails at once
	// instead of waiting for a Follow that will never come.
	returned chan error

	mu     sync.Mutex
	latest map[string]*interceptorspb.Reading
	stored []*interceptorspb.Reading
}

// follow is one Follow call: the test sends the readings.
type follow struct {
	station  string
	after    uint64
	ctx      context.Context
	readings chan *interceptorspb.Reading // unbuffered: a send returns once Watch took the reading
	call     *watchCall                   // the Watch that asked; nil if its ctx does not say
}

func newStations(names ...string) *fakeStations {
	s := &fakeStations{known: map[string]bool{}, follows: make(chan *follow, 64), returned: make(chan error, 64),
		latest: map[string]*interceptorspb.Reading{}}
	for _, n := range names {
		s.known[n] = true
	}
	return s
}

// server is your Server over s, as the tests serve it: each Watch is noted,
// so that a wait for something a Watch that has returned will never do
// ends at once.
func (s *fakeStations) server() *noteReturn {
	return &noteReturn{Server: interceptors.NewServer(s), returned: s.returned}
}

// noteReturn is your Server, noting when each Watch returns, and each
// Watch that returns without having asked Stations.Follow for readings.
type noteReturn struct {
	*interceptors.Server
	returned chan<- error
}

// watchCall is one call of your Server's Watch. Its context carries it, so
// that Follow can tell which call asked.
type watchCall struct {
	asked    atomic.Bool   // it asked Stations.Follow
	returned chan struct{} // closed once it returned
	err      error         // what it returned, once returned is closed
}

type watchCallKey struct{}

func (n *noteReturn) Watch(req *interceptorspb.WatchRequest, stream interceptorspb.Telemetry_WatchServer) error {
	call := &watchCall{returned: make(chan struct{})}
	ctx := context.WithValue(stream.Context(), watchCallKey{}, call)
	err := n.Server.Watch(req, &watchStream{Telemetry_WatchServer: stream, ctx: ctx})
	call.err = err
	close(call.returned)
	if !call.asked.Load() {
		n.returned <- err
	}
	return err
}

// watchStream is a Watch stream with another context.
type watchStream struct {
	interceptorspb.Telemetry_WatchServer
	ctx context.Context
}

func (s *watchStream) Context() context.Context { return s.ctx }

func (s *fakeStations) Follow(ctx context.Context, station string, after uint64) (<-chan *interceptorspb.Reading, bool) {
	call, _ := ctx.Value(watchCallKey{}).(*watchCall)
	if call != nil {
		call.asked.Store(true)
	}
	if !s.known[station] {
		return nil, false
	}
	f := &follow{station: station, after: after, ctx: ctx, readings: make(chan *interceptorspb.Reading), call: call}
	s.follows <- f
	return f.readings, true
}

func (s *fakeStations) Latest(station string) (*interceptorspb.Reading, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.latest[station]
	return r, ok
}

func (s *fakeStations) Store(r *interceptorspb.Reading) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stored = append(s.stored, r)
}

func (s *fakeStations) setLatest(r *interceptorspb.Reading) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latest[r.GetStation()] = r
}

func (s *fakeStations) storedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.stored)
}

// nextFollow waits for Watch to ask the stations for readings. A Watch
// that returns without asking, or that asked and returned at once, never
// takes a reading: either fails the test at once.
func (s *fakeStations) nextFollow(t *testing.T) *follow {
	t.Helper()
	select {
	case f := <-s.follows:
		select {
		case <-f.ended():
			t.Fatalf("Watch asked Stations.Follow for %q, then returned %s without waiting for its readings",
				f.station, harness.Describe(f.call.err))
		default:
		}
		return f
	case err := <-s.returned:
		t.Fatalf("Watch returned %s before it asked Stations.Follow (with its stream's context) for the station's readings",
			harness.Describe(err))
	case <-harness.Timeout():
		harness.Blocked(t, "Watch to call Stations.Follow")
	}
	return nil
}

// ended is closed once the Watch that asked for f has returned; nil (never
// ready) when the test cannot tell which Watch asked.
func (f *follow) ended() <-chan struct{} {
	if f.call == nil {
		return nil
	}
	return f.call.returned
}

// send hands Watch each reading, waiting until it took it.
func (f *follow) send(t *testing.T, rs ...*interceptorspb.Reading) {
	t.Helper()
	for _, r := range rs {
		select {
		case f.readings <- r:
		case <-f.ctx.Done():
			t.Fatalf("the Watch of %q ended (%v) before it took reading %d", f.station, f.ctx.Err(), r.GetSeq())
		case <-f.ended():
			t.Fatalf("the Watch of %q returned %s before it took reading %d", f.station, harness.Describe(f.call.err), r.GetSeq())
		case <-harness.Timeout():
			harness.Blocked(t, fmt.Sprintf("Watch to take reading %d from the station's channel", r.GetSeq()))
		}
	}
}

// returnsInstead waits for a Watch the test runs itself to return (its
// error arrives on done) after what why says, and offers it reading next
// meanwhile: a Watch that takes it went on where it should have returned,
// which the test can then tell at once.
func (f *follow) returnsInstead(t *testing.T, next *interceptorspb.Reading, done <-chan error, why string) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case f.readings <- next:
		t.Fatalf("Watch took reading %d after %s: it should have returned instead", next.GetSeq(), why)
	case <-harness.Timeout():
		harness.Blocked(t, "Watch to return once "+why)
	}
	return nil
}

// stop closes the channel: the station stopped reporting.
func (f *follow) stop() { close(f.readings) }

// --- A scripted service -----------------------------------------------------

// scripted is a Telemetry service whose methods the test writes, for the
// tests of client code.
type scripted struct {
	interceptorspb.UnimplementedTelemetryServer
	watch  func(*interceptorspb.WatchRequest, interceptorspb.Telemetry_WatchServer) error
	upload func(interceptorspb.Telemetry_UploadServer) error
	latest func(context.Context, *interceptorspb.LatestRequest) (*interceptorspb.Reading, error)
}

func (s *scripted) Watch(req *interceptorspb.WatchRequest, stream interceptorspb.Telemetry_WatchServer) error {
	return s.watch(req, stream)
}

func (s *scripted) Upload(stream interceptorspb.Telemetry_UploadServer) error {
	return s.upload(stream)
}

func (s *scripted) Latest(ctx context.Context, req *interceptorspb.LatestRequest) (*interceptorspb.Reading, error) {
	return s.latest(ctx, req)
}

// --- An in-memory server that takes options ---------------------------------

// setup says how serve builds the server and the client.
type setup struct {
	server  []grpc.ServerOption            // the options under test
	dial    []grpc.DialOption              // the client's, besides dialer and credentials
	service interceptorspb.TelemetryServer // nil: the lesson's Server over the bench's stations
	tls     bool                           // serve over TLS, with a certificate made for the test
}

// bench is a server built from a setup, with a client, and what the test
// sees of its handlers.
type bench struct {
	client   interceptorspb.TelemetryClient
	stations *fakeStations

	handled chan handled // each handler, as it starts (innermost)
	ended   chan ended   // each call, as the server's whole chain returns (outermost)
}

// handled is what a handler received: the metadata and caller in its
// context, and that context.
type handled struct {
	method string
	md     metadata.MD
	caller interceptors.Caller
	known  bool // a caller was in the context
	ctx    context.Context
}

// ended is what the server's whole interceptor chain returned for a call.
type ended struct {
	method string
	err    error
}

// serve runs a Telemetry server on bufconn with s.server's options, between
// two interceptors of the test's: the outermost notes what each call ended
// with and turns a panic into the test's failure; the innermost notes what
// each handler gets. Everything stops when the test ends.
func serve(t *testing.T, s setup) *bench {
	t.Helper()
	b := &bench{stations: newStations("summit", "valley"), handled: make(chan handled, 64), ended: make(chan ended, 64)}
	outer := grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer b.end(t, info.FullMethod, &err)
		return handler(srv, ss)
	})
	outerUnary := grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer b.end(t, info.FullMethod, &err)
		return handler(ctx, req)
	})
	inner := grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		b.note(info.FullMethod, ss.Context())
		return handler(srv, ss)
	})
	innerUnary := grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		b.note(info.FullMethod, ctx)
		return handler(ctx, req)
	})
	opts := append([]grpc.ServerOption{outer, outerUnary}, s.server...)
	opts = append(opts, inner, innerUnary)
	serverCreds, clientCreds := insecure.NewCredentials(), insecure.NewCredentials()
	if s.tls {
		serverCreds, clientCreds = tlsCredentials(t)
	}
	srv := grpc.NewServer(append(opts, grpc.Creds(serverCreds))...)
	var service interceptorspb.TelemetryServer = b.stations.server()
	if s.service != nil {
		service = s.service
	}
	interceptorspb.RegisterTelemetryServer(srv, service)
	lis := bufconn.Listen(1 << 20)
	go srv.Serve(lis) //nolint:errcheck // Serve returns when Stop is called.
	t.Cleanup(srv.Stop)

	conn, err := grpc.NewClient("passthrough:///telemetry.test", append(s.dial,
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(clientCreds))...)
	if err != nil {
		t.Fatalf("grpc.NewClient with the options under test: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	b.client = interceptorspb.NewTelemetryClient(conn)
	return b
}

func (b *bench) note(method string, ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	c, ok := interceptors.CallerFrom(ctx)
	b.handled <- handled{method: method, md: md, caller: c, known: ok, ctx: ctx}
}

func (b *bench) end(t *testing.T, method string, err *error) {
	if v := recover(); v != nil {
		t.Errorf("the server's interceptors or handler for %s panicked: %v", method, v)
		*err = fmt.Errorf("panic: %v", v)
	}
	b.ended <- ended{method: method, err: *err}
}

// nextHandled waits for a handler to start.
func (b *bench) nextHandled(t *testing.T, what string) handled {
	t.Helper()
	return harness.Wait(t, b.handled, what)
}

// noHandler checks that no handler has started.
func (b *bench) noHandler(t *testing.T, call string) {
	t.Helper()
	select {
	case h := <-b.handled:
		t.Errorf("%s: the %s handler ran; it must not run for a call that fails authentication", call, short(h.method))
	default:
	}
}

// nextEnded waits for the server to finish a call.
func (b *bench) nextEnded(t *testing.T, what string) ended {
	t.Helper()
	return harness.Wait(t, b.ended, what)
}

// waitWhileRunning waits for a value on ch, and fails at once if the call
// the test runs on a goroutine of its own returns first (its error arrives
// on returned): what the test waits for can then never happen.
func waitWhileRunning[T any](t *testing.T, ch <-chan T, what string, returned <-chan error, call string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case err := <-returned:
		t.Fatalf("%s returned %s before %s", call, harness.Describe(err), what)
	case <-harness.Timeout():
		harness.Blocked(t, what)
	}
	var zero T
	return zero
}

// short is a full method's last part: "Watch".
func short(method string) string {
	return method[strings.LastIndex(method, "/")+1:]
}

// tlsCredentials makes a self-signed certificate for "telemetry.test" and
// returns a server's and a client's TLS credentials that trust it.
func tlsCredentials(t *testing.T) (server, client credentials.TransportCredentials) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generating a key: %v", err)
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "telemetry.test"},
		DNSNames:     []string{"telemetry.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("making a certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("reading the certificate back: %v", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	server = credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	client = credentials.NewTLS(&tls.Config{RootCAs: roots, ServerName: "telemetry.test"})
	return server, client
}

// --- Tokens -----------------------------------------------------------------

// t0 is the fixed "now" of the tests' clock.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// callers are the tokens the tests' identity provider has issued.
var callers = map[string]interceptors.Caller{
	"tok-ada":  {Name: "Ada", CanUpload: true},                                    // never expires
	"tok-bob":  {Name: "Bob", Expires: t0.Add(time.Hour)},                         // may not upload
	"tok-cleo": {Name: "Cleo", CanUpload: true, Expires: t0.Add(time.Nanosecond)}, // the last moment
	"tok-dan":  {Name: "Dan", CanUpload: true, Expires: t0},                       // expired just now
}

// newAuth is an Auth over callers whose clock stands at t0, with timers
// the test fires.
func newAuth() (*interceptors.Auth, *fakeTimers) {
	timers := &fakeTimers{started: make(chan *fakeTimer, 64)}
	return &interceptors.Auth{
		Lookup: func(token string) (interceptors.Caller, bool) {
			c, ok := callers[token]
			return c, ok
		},
		Now:       func() time.Time { return t0 },
		AfterFunc: timers.AfterFunc,
	}, timers
}

// withToken returns ctx with "authorization: Bearer <token>" to send.
func withToken(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, interceptors.AuthorizationKey, "Bearer "+token)
}

// bearer is per-RPC credentials that send "Bearer " + the current token, over
// any connection: the tests' own, for tests that are not about credentials.
type bearer struct {
	mu    sync.Mutex
	token string
}

func (b *bearer) set(token string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.token = token
}

func (b *bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

func (b *bearer) RequireTransportSecurity() bool { return false }

// --- A fake clock for AfterFunc ---------------------------------------------

// fakeTimers stands in for time.AfterFunc: a timer goes off only when the
// test fires it.
type fakeTimers struct {
	started chan *fakeTimer
}

type fakeTimer struct {
	d time.Duration
	f func()

	mu      sync.Mutex
	fired   bool
	stopped bool
}

func (c *fakeTimers) AfterFunc(d time.Duration, f func()) func() bool {
	ft := &fakeTimer{d: d, f: f}
	c.started <- ft
	return ft.stop
}

// asked takes the timer Expire asked a.AfterFunc for, which it must have
// asked for by the time the test saw what by says: Expire starts the timer
// before it calls the handler (the handler's context must be able to end
// from its first moment), so once the Watch handler runs, the timer exists.
// Nothing is waited for: a timer started later is started too late.
func (c *fakeTimers) asked(t *testing.T, by string) *fakeTimer {
	t.Helper()
	select {
	case ft := <-c.started:
		return ft
	default:
		t.Fatalf("Expire had not asked a.AfterFunc for a timer by the time %s: start the timer before you call the handler "+
			"(and with a.AfterFunc, the tests' clock, not time.AfterFunc)", by)
		return nil
	}
}

// none checks that no timer was started.
func (c *fakeTimers) none(t *testing.T, why string) {
	t.Helper()
	select {
	case ft := <-c.started:
		t.Errorf("a timer of %v was started; want none: %s", ft.d, why)
	default:
	}
}

// fire makes the timer go off, as time.AfterFunc would, unless it was
// stopped.
func (ft *fakeTimer) fire(t *testing.T) {
	t.Helper()
	ft.mu.Lock()
	run := !ft.stopped && !ft.fired
	ft.fired = true
	ft.mu.Unlock()
	if run {
		harness.Call(t, "the function Expire gave a.AfterFunc", ft.f)
	}
}

func (ft *fakeTimer) stop() bool {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	wasActive := !ft.stopped && !ft.fired
	ft.stopped = true
	return wasActive
}

func (ft *fakeTimer) isStopped() bool {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return ft.stopped
}

// --- A log the tests read ---------------------------------------------------

// logLines is the io.Writer the logging interceptors write to. Each Write
// must be one whole line: a line written in two parts can interleave with
// another call's.
type logLines struct {
	lines chan string

	mu     sync.Mutex
	broken []string // Writes that were not one whole line
}

func newLog() *logLines { return &logLines{lines: make(chan string, 256)} }

func (l *logLines) Write(p []byte) (int, error) {
	s := string(p)
	if !strings.HasSuffix(s, "\n") || strings.Count(s, "\n") != 1 {
		l.mu.Lock()
		l.broken = append(l.broken, s)
		l.mu.Unlock()
	}
	for _, line := range strings.SplitAfter(s, "\n") {
		if line != "" {
			l.lines <- strings.TrimSuffix(line, "\n")
		}
	}
	return len(p), nil
}

// statusReceived is the moment the log tests check the log at: gRPC
// writes a call's status to the client only once the server's whole
// interceptor chain has returned, so a line your interceptor writes before
// it returns is in the log by then. In processRPC (grpc-go v1.85.0,
// server.go), a stream's chain runs, and only then the status goes out:
//
//	appErr = s.opts.streamInt(server, wrappedStream, info, sd.Handler)
//	...
//	if err := ss.s.WriteStatus(appStatus); err != nil {
//
// and a unary call's chain runs inside wrapUnaryHandler, which sends the
// reply after it returned:
//
//	reply, err := md.Handler(srv, stream.Context(), df, s.opts.unaryInt)
//	...
//	return stream.SendMsg(reply)
//
// The client has the status when Recv returned an error or io.EOF, when
// CloseAndRecv returned, or when a unary call returned (it waits for the
// status too).
const statusReceived = "the client had the call's status (gRPC sends it only once your interceptor returned)"

// written takes the next line, which must be in the log already: the line
// of a call that ended, checked once by says the test saw the call end
// (statusReceived, or the interceptor returning when the test calls it).
// Nothing is waited for: a line written after the call ended is written
// too late. It also checks that every Write so far was one whole line.
func (l *logLines) written(t *testing.T, call, by string) string {
	t.Helper()
	return l.writtenOr(t, call, by, "write the line before your interceptor returns")
}

// writtenOr is written, with advice of the test's own for when nothing was
// logged.
func (l *logLines) writtenOr(t *testing.T, call, by, advice string) string {
	t.Helper()
	select {
	case line := <-l.lines:
		l.mu.Lock()
		defer l.mu.Unlock()
		if len(l.broken) > 0 {
			t.Errorf("the log got Writes that are not one whole line each: %q; write each line with one call "+
				"(fmt.Fprintf does), or lines of calls that end together can mix", l.broken)
		}
		return line
	default:
		t.Fatalf("nothing was logged for %s by the time %s: %s", call, by, advice)
		return ""
	}
}

// none checks that nothing more was logged.
func (l *logLines) none(t *testing.T, why string) {
	t.Helper()
	select {
	case line := <-l.lines:
		t.Errorf("the log got %q; want nothing: %s", line, why)
	default:
	}
}
