package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

// This file records a transcript of every RPC a test makes through Start:
// what each side sent and received, half-closes, and final statuses, in the
// order they happened, plus the operations still in progress when the test
// failed. Interceptors on both the client connection and the server do the
// recording; nothing here starts a goroutine. The transcript is printed (with
// t.Log) only for a failing test.

// callHeader carries a call's number from the client interceptor to the
// server's, so that both halves of one RPC share a line in the transcript.
const callHeader = "x-harness-call"

// maxEvents bounds a transcript's memory; a test that streams more than this
// keeps the first ones and a count of the rest.
const maxEvents = 5000

// shownEvents is how many events a printed transcript shows at most: the first
// and the last half of them.
const shownEvents = 120

type recorder struct {
	mu      sync.Mutex
	start   time.Time
	calls   []*call
	events  []event
	dropped int
	nextOp  int
	frozen  *freeze // what was in progress when the test first failed

	// changed, if not nil, receives a value (without blocking) after every
	// event and operation; the harness's own tests wait on it.
	changed chan struct{}
}

func (r *recorder) signalLocked() {
	if r.changed != nil {
		select {
		case r.changed <- struct{}{}:
		default:
		}
	}
}

// call is one RPC, seen from the client, the server, or both.
type call struct {
	n      int
	method string // the full method name
	kind   string // unary, server-streaming, client-streaming, bidi-streaming

	client, server           bool // which sides the harness saw
	clientSent, clientRecv   int  // messages the client sent and received
	clientClosedSend         bool
	clientEnded              bool // the client saw the final status
	serverSent, serverRecv   int
	serverSawEOF             bool
	serverStarted, serverRet bool

	ops map[int]*op // operations in progress
}

type op struct {
	side  string // "client" or "server"
	what  string // "Recv #2", "Send #1", "handler"
	since time.Time
}

type event struct {
	call int
	side string
	text string
}

type freeze struct {
	reason string
	at     int    // len(events) when it happened
	report string // the rendered in-progress operations and diagnosis
	told   bool   // the report is already in the failure message
}

func newRecorder() *recorder { return &recorder{start: time.Now()} }

// --- registry: which recorders belong to which test -----------------------

var registry = struct {
	sync.Mutex
	byTest map[string][]*recorder
}{byTest: map[string][]*recorder{}}

func registerRecorder(t testing.TB, r *recorder) {
	registry.Lock()
	defer registry.Unlock()
	registry.byTest[t.Name()] = append(registry.byTest[t.Name()], r)
}

func unregisterRecorder(t testing.TB, r *recorder) {
	registry.Lock()
	defer registry.Unlock()
	list := registry.byTest[t.Name()]
	for i, x := range list {
		if x == r {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(registry.byTest, t.Name())
	} else {
		registry.byTest[t.Name()] = list
	}
}

// recordersOf returns the recorders of t's servers, and of its parents' (a
// subtest often uses the server its parent started).
func recordersOf(t testing.TB) []*recorder {
	registry.Lock()
	defer registry.Unlock()
	var found []*recorder
	name := t.Name()
	for {
		found = append(found, registry.byTest[name]...)
		i := strings.LastIndexByte(name, '/')
		if i < 0 {
			return found
		}
		name = name[:i]
	}
}

// freezeAll notes, for every server of t, what was in progress at the moment
// the test failed. Only the first failure counts. It returns the report of
// what was in progress, for a failure message ("" if nothing was).
func freezeAll(t testing.TB, reason string) string {
	var b strings.Builder
	for _, r := range recordersOf(t) {
		if report := r.freeze(reason); report != "" {
			b.WriteString(report)
			r.mu.Lock()
			r.frozen.told = true
			r.mu.Unlock()
		}
	}
	if b.Len() == 0 {
		return ""
	}
	return "\n" + strings.TrimRight(b.String(), "\n") + "\n(the test's gRPC transcript is printed when it ends)"
}

// --- recording ------------------------------------------------------------

func (r *recorder) newCall(method, kind string) *call {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := &call{n: len(r.calls) + 1, method: method, kind: kind, ops: map[int]*op{}}
	r.calls = append(r.calls, c)
	return c
}

// serverCall finds the call the client interceptor numbered in ctx's
// metadata, or starts a new one for a client the harness did not make.
func (r *recorder) serverCall(ctx context.Context, method, kind string) *call {
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get(callHeader); len(v) == 1 {
			if n, err := strconv.Atoi(v[0]); err == nil {
				r.mu.Lock()
				defer r.mu.Unlock()
				if n >= 1 && n <= len(r.calls) {
					c := r.calls[n-1]
					c.server = true
					return c
				}
			}
		}
	}
	c := r.newCall(method, kind)
	r.mu.Lock()
	c.server = true
	r.mu.Unlock()
	return c
}

// add appends an event; update, if not nil, changes the call's counters
// under the same lock, so that events and counters always agree.
func (r *recorder) add(c *call, side, text string, update func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if update != nil {
		update()
	}
	defer r.signalLocked()
	if len(r.events) >= maxEvents {
		r.dropped++
		return
	}
	r.events = append(r.events, event{call: c.n, side: side, text: text})
}

// begin notes an operation in progress; end(id) notes that it returned.
func (r *recorder) begin(c *call, side, what string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	defer r.signalLocked()
	r.nextOp++
	c.ops[r.nextOp] = &op{side: side, what: what, since: time.Now()}
	return r.nextOp
}

func (r *recorder) end(c *call, id int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(c.ops, id)
}

// count reads a counter under the lock.
func (r *recorder) count(f func() int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return f()
}

func streamKind(clientStreams, serverStreams bool) string {
	switch {
	case clientStreams && serverStreams:
		return "bidi-streaming"
	case clientStreams:
		return "client-streaming"
	case serverStreams:
		return "server-streaming"
	}
	return "unary"
}

// --- client side ----------------------------------------------------------

func (r *recorder) clientUnary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	c := r.newCall(method, "unary")
	ctx = metadata.AppendToOutgoingContext(ctx, callHeader, strconv.Itoa(c.n))
	r.add(c, "client", "→ request   "+render(req), func() { c.client = true; c.clientSent++ })
	id := r.begin(c, "client", "waiting for the reply")
	err := invoker(ctx, method, req, reply, cc, opts...)
	r.end(c, id)
	if err != nil {
		r.add(c, "client", "← status    "+Describe(err)+ctxNote(ctx), func() { c.clientEnded = true })
	} else {
		r.add(c, "client", "← reply     "+render(reply)+"  (status OK)", func() { c.clientRecv++; c.clientEnded = true })
	}
	return err
}

func (r *recorder) clientStream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	c := r.newCall(method, streamKind(desc.ClientStreams, desc.ServerStreams))
	ctx = metadata.AppendToOutgoingContext(ctx, callHeader, strconv.Itoa(c.n))
	r.add(c, "client", "opened the stream", func() { c.client = true })
	cs, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		r.add(c, "client", "could not open the stream: "+Describe(err), func() { c.clientEnded = true })
		return nil, err
	}
	return &clientStream{ClientStream: cs, r: r, c: c, ctx: ctx}, nil
}

// ctxNote says why a call failed when the client's own context ended: the
// client cancelled, or its deadline passed.
func ctxNote(ctx context.Context) string {
	switch {
	case ctx == nil || ctx.Err() == nil:
		return ""
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return "  (the client's context reached its deadline)"
	default:
		return "  (the client's context was cancelled)"
	}
}

type clientStream struct {
	grpc.ClientStream
	r   *recorder
	c   *call
	ctx context.Context // the context the client opened the stream with
}

func (s *clientStream) SendMsg(m any) error {
	r, c := s.r, s.c
	n := r.count(func() int { c.clientSent++; return c.clientSent })
	r.add(c, "client", fmt.Sprintf("→ Send #%d   %s", n, render(m)), nil)
	id := r.begin(c, "client", fmt.Sprintf("Send #%d", n))
	err := s.ClientStream.SendMsg(m)
	r.end(c, id)
	if err != nil {
		hint := ""
		if errors.Is(err, io.EOF) {
			hint = " (the stream has ended; its status comes from Recv or CloseAndRecv)"
		}
		r.add(c, "client", fmt.Sprintf("  Send #%d failed: %s%s%s", n, Describe(err), hint, ctxNote(s.ctx)), nil)
	}
	return err
}

func (s *clientStream) RecvMsg(m any) error {
	r, c := s.r, s.c
	n := r.count(func() int { return c.clientRecv + 1 })
	id := r.begin(c, "client", fmt.Sprintf("Recv, waiting for message #%d", n))
	err := s.ClientStream.RecvMsg(m)
	r.end(c, id)
	switch {
	case err == nil:
		r.add(c, "client", fmt.Sprintf("← Recv #%d   %s", n, render(m)), func() { c.clientRecv++ })
	case errors.Is(err, io.EOF):
		r.add(c, "client", "← Recv      io.EOF: the stream ended with status OK", func() { c.clientEnded = true })
	default:
		r.add(c, "client", "← Recv      status "+Describe(err)+ctxNote(s.ctx), func() { c.clientEnded = true })
	}
	return err
}

func (s *clientStream) CloseSend() error {
	s.r.add(s.c, "client", "CloseSend   (half-close: the client will send no more)", func() { s.c.clientClosedSend = true })
	return s.ClientStream.CloseSend()
}

func (s *clientStream) Header() (metadata.MD, error) {
	id := s.r.begin(s.c, "client", "Header, waiting for the server's headers")
	md, err := s.ClientStream.Header()
	s.r.end(s.c, id)
	if err != nil {
		s.r.add(s.c, "client", "← Header failed: "+Describe(err), nil)
	} else {
		s.r.add(s.c, "client", "← headers   "+renderMD(md), nil)
	}
	return md, err
}

// --- server side ----------------------------------------------------------

func (r *recorder) serverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	c := r.serverCall(ctx, info.FullMethod, "unary")
	r.add(c, "server", "← request   "+render(req)+"  (handler starts)", func() { c.serverStarted = true; c.serverRecv++ })
	id := r.begin(c, "server", "handler "+shortMethod(info.FullMethod)+" running")
	resp, err := handler(ctx, req)
	r.end(c, id)
	if err != nil {
		r.add(c, "server", "handler returned status "+Describe(err), func() { c.serverRet = true })
	} else {
		r.add(c, "server", "→ reply     "+render(resp)+"  (handler returned)", func() { c.serverRet = true; c.serverSent++ })
	}
	return resp, err
}

func (r *recorder) serverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	c := r.serverCall(ss.Context(), info.FullMethod, streamKind(info.IsClientStream, info.IsServerStream))
	r.add(c, "server", "handler "+shortMethod(info.FullMethod)+" started", func() { c.serverStarted = true })
	id := r.begin(c, "server", "handler "+shortMethod(info.FullMethod)+" running")
	err := handler(srv, &serverStream{ServerStream: ss, r: r, c: c})
	r.end(c, id)
	if err != nil {
		r.add(c, "server", "handler returned status "+Describe(err), func() { c.serverRet = true })
	} else {
		r.add(c, "server", "handler returned: status OK", func() { c.serverRet = true })
	}
	return err
}

type serverStream struct {
	grpc.ServerStream
	r *recorder
	c *call
}

func (s *serverStream) SendMsg(m any) error {
	r, c := s.r, s.c
	n := r.count(func() int { c.serverSent++; return c.serverSent })
	r.add(c, "server", fmt.Sprintf("→ Send #%d   %s", n, render(m)), nil)
	id := r.begin(c, "server", fmt.Sprintf("Send #%d", n))
	err := s.ServerStream.SendMsg(m)
	r.end(c, id)
	if err != nil {
		r.add(c, "server", fmt.Sprintf("  Send #%d failed: %s", n, Describe(err)), nil)
	}
	return err
}

func (s *serverStream) RecvMsg(m any) error {
	r, c := s.r, s.c
	n := r.count(func() int { return c.serverRecv + 1 })
	id := r.begin(c, "server", fmt.Sprintf("Recv, waiting for message #%d", n))
	err := s.ServerStream.RecvMsg(m)
	r.end(c, id)
	switch {
	case err == nil:
		r.add(c, "server", fmt.Sprintf("← Recv #%d   %s", n, render(m)), func() { c.serverRecv++ })
	case errors.Is(err, io.EOF):
		r.add(c, "server", "← Recv      io.EOF: the client half-closed (CloseSend)", func() { c.serverSawEOF = true })
	default:
		r.add(c, "server", "← Recv      failed: "+Describe(err), nil)
	}
	return err
}

func (s *serverStream) SendHeader(md metadata.MD) error {
	s.r.add(s.c, "server", "→ headers   "+renderMD(md), nil)
	return s.ServerStream.SendHeader(md)
}

// --- the report -----------------------------------------------------------

// freeze records what is in progress now, once, and returns it ("" if it was
// recorded before, or nothing is in progress).
func (r *recorder) freeze(reason string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.frozen != nil {
		return ""
	}
	r.frozen = &freeze{reason: reason, at: len(r.events), report: r.inProgressLocked(time.Now())}
	return r.frozen.report
}

// inProgressLocked renders the operations in progress and what they mean.
func (r *recorder) inProgressLocked(now time.Time) string {
	var b strings.Builder
	multi := len(r.calls) > 1
	for _, c := range r.calls {
		ids := make([]int, 0, len(c.ops))
		for id := range c.ops {
			ids = append(ids, id)
		}
		sort.Ints(ids)
		for _, id := range ids {
			o := c.ops[id]
			fmt.Fprintf(&b, "  %s%s: %s, for %v\n", callTag(c, multi), o.side, o.what, now.Sub(o.since).Round(time.Millisecond))
		}
	}
	if b.Len() == 0 {
		return ""
	}
	var why []string
	for _, c := range r.calls {
		for _, d := range c.diagnose() {
			why = append(why, "  "+callTag(c, multi)+d)
		}
	}
	out := "Still in progress:\n" + b.String()
	if len(why) > 0 {
		out += "What that means:\n" + strings.Join(why, "\n") + "\n"
	}
	return out
}

// diagnose explains, from a call's operations in progress and counters, which
// side is blocked waiting for what. The caller holds r.mu.
func (c *call) diagnose() []string {
	var clientRecv, serverRecv, serverSend, clientSend, handler, clientUnary bool
	for _, o := range c.ops {
		switch {
		case o.side == "client" && strings.HasPrefix(o.what, "Recv"):
			clientRecv = true
		case o.side == "client" && strings.HasPrefix(o.what, "Send"):
			clientSend = true
		case o.side == "client" && strings.HasPrefix(o.what, "waiting"):
			clientUnary = true
		case o.side == "server" && strings.HasPrefix(o.what, "Recv"):
			serverRecv = true
		case o.side == "server" && strings.HasPrefix(o.what, "Send"):
			serverSend = true
		case o.side == "server" && strings.HasPrefix(o.what, "handler"):
			handler = true
		}
	}
	clientStreams := c.kind == "client-streaming" || c.kind == "bidi-streaming"
	var d []string
	switch {
	case serverRecv && c.client && clientStreams && !c.clientClosedSend && clientRecv:
		d = append(d, fmt.Sprintf("deadlock: the server waits in Recv for message #%d while the client waits in Recv for a reply; "+
			"the client sent %d message(s) and never called CloseSend, so the server's Recv cannot return io.EOF", c.serverRecv+1, c.clientSent))
	case serverRecv && c.client && clientStreams && !c.clientClosedSend:
		d = append(d, fmt.Sprintf("the server waits in Recv for message #%d; the client sent %d and never called CloseSend (or CloseAndRecv), "+
			"so Recv cannot return io.EOF", c.serverRecv+1, c.clientSent))
	case serverRecv:
		d = append(d, fmt.Sprintf("the server waits in Recv for message #%d, which the client has not sent", c.serverRecv+1))
	case serverSend:
		d = append(d, fmt.Sprintf("the server is blocked in Send #%d: the client is not reading (Recv), and flow control stops a sender whose reader has stopped", c.serverSent))
	case handler:
		d = append(d, "the server handler has not returned, yet it is not in Send or Recv: it waits on something else (a channel, a lock, a timer); "+
			"does it also watch the context (stream.Context().Done() or ctx.Done())?")
	}
	switch {
	case clientRecv && c.serverRet:
		d = append(d, "the client waits in Recv although the handler has returned")
	case clientRecv && !c.serverStarted:
		d = append(d, "the client waits in Recv, and the server handler has not started")
	case clientRecv && !serverSend:
		d = append(d, fmt.Sprintf("the client waits in Recv for message #%d, which the server has not sent (it sent %d)", c.clientRecv+1, c.serverSent))
	case clientSend:
		d = append(d, "the client is blocked in Send: the server is not reading (Recv)")
	case clientUnary && !c.serverStarted:
		d = append(d, "the client waits for a reply, and the server handler has not started")
	}
	if c.client && !c.clientEnded && c.kind != "unary" && !clientRecv && !clientSend {
		switch {
		case clientStreams && !c.clientClosedSend && serverRecv:
			// said above
		case clientStreams && !c.clientClosedSend:
			d = append(d, "the client never called CloseSend (or CloseAndRecv)")
		default:
			d = append(d, "the client has not read the stream to its end (Recv until it returns an error) nor cancelled its context")
		}
	}
	return d
}

func callTag(c *call, multi bool) string {
	if multi {
		return fmt.Sprintf("[%d] ", c.n)
	}
	return ""
}

// Transcript renders what the server's calls did so far. Lesson tests do not
// need it: Start prints it when a test fails.
func (s *Server) Transcript() string { return s.rec.render() }

func (r *recorder) render() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.calls) == 0 {
		return "gRPC transcript: this test made no RPC through the harness.\n"
	}
	var b strings.Builder
	b.WriteString("gRPC transcript (→ sent, ← received; in the order it happened):\n")
	multi := len(r.calls) > 1
	for _, c := range r.calls {
		fmt.Fprintf(&b, "  call %d: %s (%s)\n", c.n, c.method, c.kind)
	}
	line := func(i int) {
		if r.frozen != nil && r.frozen.at == i && i < len(r.events) {
			fmt.Fprintf(&b, "  ---- the test failed here (%s); the lines below came after ----\n", r.frozen.reason)
		}
		if i < len(r.events) {
			e := r.events[i]
			fmt.Fprintf(&b, "  %s%-6s %s\n", callTag(&call{n: e.call}, multi), e.side, e.text)
		}
	}
	if len(r.events) <= shownEvents {
		for i := 0; i <= len(r.events); i++ {
			line(i)
		}
	} else {
		half := shownEvents / 2
		for i := 0; i < half; i++ {
			line(i)
		}
		fmt.Fprintf(&b, "  ... %d events not shown ...\n", len(r.events)-2*half)
		for i := len(r.events) - half; i <= len(r.events); i++ {
			line(i)
		}
	}
	if r.dropped > 0 {
		fmt.Fprintf(&b, "  ... and %d later events not recorded\n", r.dropped)
	}
	if r.frozen != nil && r.frozen.report != "" {
		if r.frozen.told {
			b.WriteString("(What was still in progress when the test failed is in its failure message above.)\n")
		} else {
			fmt.Fprintf(&b, "When the test failed (%s):\n%s", r.frozen.reason, r.frozen.report)
		}
	}
	return b.String()
}

// --- rendering ------------------------------------------------------------

const maxMessage = 120

// render shows a message on one line, cut to maxMessage characters.
func render(m any) string {
	var s string
	if pm, ok := m.(proto.Message); ok {
		s = prototext.MarshalOptions{}.Format(pm)
	} else {
		s = fmt.Sprintf("%v", m)
	}
	s = strings.Join(strings.Fields(s), " ") // prototext may add spacing of its own
	if s == "" {
		s = "{}"
	}
	if utf8.RuneCountInString(s) > maxMessage {
		s = string([]rune(s)[:maxMessage]) + "…"
	}
	return s
}

func renderMD(md metadata.MD) string {
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return "keys " + strings.Join(keys, ", ")
}

func shortMethod(full string) string {
	if i := strings.LastIndexByte(full, '/'); i >= 0 {
		return full[i+1:]
	}
	return full
}
