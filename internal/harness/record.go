package harness

import (
	"context"
	"errors"
	"io"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// This file records what every RPC made through Start does. The
// interceptors (intercept.go) note each message, half-close, context end and
// final status as a typed event, and each operation in progress (a Recv, a
// Send, a running handler) as a typed op. Nothing is formatted here
// (render.go does that, only for a failing test), and no goroutine is
// started until a call's context ends.

// callHeader carries a call's number from the client interceptor to the
// server's, so that both halves of one RPC are one call in the transcript.
const callHeader = "x-harness-call"

// keptEvents is how many events of a transcript keep their messages: the
// first half and the last half. The ones between are only counted, so a test
// that streams a million messages costs no more memory than one that streams
// a hundred.
const keptEvents = 120

// opKind is what a side of a call is doing while an op is in progress.
type opKind uint8

const (
	opClientUnary  opKind = iota // the client waits for a unary reply
	opClientSend                 // the client is in Send
	opClientRecv                 // the client is in Recv
	opClientHeader               // the client waits for the server's headers
	opHandler                    // the server's handler runs
	opServerSend                 // the server is in Send
	opServerRecv                 // the server is in Recv
)

func (k opKind) server() bool { return k >= opHandler }

// op is an operation in progress. One that was still in progress when the
// harness ended its call (the fail-safe deadline, or the end of the test)
// is kept after it returns, with ended set: a report written later still
// says what was waiting then, not what tearing the call down did to it.
type op struct {
	kind  opKind
	n     int // the message it sends or waits for (Send #n, Recv of message #n)
	since time.Time
	ended time.Time // zero while it is really in progress
	why   endReason // for a kept op: what ended the call
}

// eventKind is what one line of a transcript says.
type eventKind uint8

const (
	evOpened       eventKind = iota // the client opened a stream
	evOpenFailed                    // the client could not
	evRequest                       // a unary request: sent, or received as the handler starts
	evReply                         // a unary reply: received, or sent as the handler returns
	evStatus                        // the client's unary call failed with err
	evSent                          // Send #n returned
	evSendFailed                    // Send #n failed with err
	evReceived                      // Recv returned message #n
	evEOF                           // Recv returned io.EOF
	evRecvFailed                    // Recv returned err
	evCloseSend                     // the client half-closed
	evHeader                        // headers sent (server) or received (client)
	evHeaderFailed                  // the client's Header failed
	evContextEnded                  // this side's context ended while the call was on
	evStarted                       // a streaming handler started
	evReturned                      // a handler returned err
)

type event struct {
	seq    int // its place among all the recorder's events
	call   int
	server bool
	kind   eventKind
	n      int
	msg    any // a copy of the message (see keep), formatted only if printed
	err    error
	why    endReason // evContextEnded: why; evStatus and evRecvFailed: the client context's end, if any
	md     metadata.MD
}

// call is one RPC as the harness saw it, from the client, the server or both.
// The explainer (diagnose.go) reads nothing else, so its tests build calls
// directly.
type call struct {
	n      int
	method string // the full method name
	shape  shape

	client, server         bool // which sides the harness saw
	clientSent, clientRecv int  // messages the client sent and received
	serverSent, serverRecv int
	closedSend             bool      // the client half-closed
	sawEOF                 bool      // the server's Recv returned io.EOF
	clientDone             bool      // the client saw the call end
	clientErr              error     // ... with this (nil: OK)
	clientEnd              ctxEnd    // the client's context ended while the call was on
	started, returned      bool      // the handler
	handlerErr             error     // what it returned
	serverEnd              time.Time // the server's context ended while the handler ran
	sendFailures           int       // the server's Sends that failed
	lastSendErr            error

	ops []*op // in progress, oldest first

	// Set from Context's value when the client's context came from it.
	ctx      context.Context
	owner    *testRun
	failSafe time.Time
}

// shape is which sides of a call stream.
type shape struct{ clientStreams, serverStreams bool }

func (s shape) String() string {
	switch {
	case s.clientStreams && s.serverStreams:
		return "bidi-streaming"
	case s.clientStreams:
		return "client-streaming"
	case s.serverStreams:
		return "server-streaming"
	}
	return "unary"
}

// ctxEnd is when and why the client's context ended, if it did.
type ctxEnd struct {
	at  time.Time
	why endReason
}

func (e ctxEnd) ended() bool { return !e.at.IsZero() }

type recorder struct {
	mu     sync.Mutex
	test   *testRun // the test that started the server
	calls  []*call
	head   []event // the first keptEvents/2 events
	tail   []event // a ring of the last keptEvents/2
	total  int     // events recorded, kept or not
	frozen *freeze // what was in progress when the test first failed
}

// record appends e for c; update, if not nil, changes c's counters under the
// same lock, so that events and counters always agree.
func (r *recorder) record(c *call, e event, update func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if update != nil {
		update()
	}
	e.seq, e.call = r.total, c.n
	r.total++
	e.msg = keep(e.msg)
	switch half := keptEvents / 2; {
	case len(r.head) < half:
		r.head = append(r.head, e)
	case len(r.tail) < half:
		r.tail = append(r.tail, e) // at index e.seq % half, as below
	default:
		r.tail[e.seq%half] = e // over the oldest
	}
}

// keep copies a message that a transcript may print: the sender may reuse
// it, and formatting it now would cost every test what only a failing one
// needs. A message that is not a proto is kept as it is.
func keep(m any) any {
	if pm, ok := m.(proto.Message); ok {
		return proto.Clone(pm)
	}
	return m
}

func isEOF(err error) bool { return errors.Is(err, io.EOF) }

// bump adds one to a counter of a call and returns it; read reads one.
func (r *recorder) bump(counter *int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	*counter++
	return *counter
}

func (r *recorder) read(counter *int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return *counter
}

// begin notes an op in progress; end notes that it returned. An op that
// begins after the harness ended its call is not noted: it was not in
// progress then.
func (r *recorder) begin(c *call, kind opKind, n int) *op {
	o := &op{kind: kind, n: n, since: time.Now()}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.endedByHarness(c) == endNone {
		c.ops = append(c.ops, o)
	}
	return o
}

func (r *recorder) end(c *call, o *op) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if why := r.endedByHarness(c); why != endNone {
		o.ended, o.why = now, why
		return
	}
	for i, x := range c.ops {
		if x == o {
			c.ops = append(c.ops[:i], c.ops[i+1:]...)
			return
		}
	}
}

// endedByHarness says whether the harness, not the test, has ended c: its
// client context reached the fail-safe or ended with its test, or the test
// that started the server has ended. An op that returns after that is kept.
func (r *recorder) endedByHarness(c *call) endReason {
	if c.ctx != nil {
		if why := reasonOf(c.ctx); why == endFailSafe || why == endTestEnded {
			return why
		}
	}
	if r.test != nil && r.test.ended() {
		return endTestEnded
	}
	return endNone
}

// add numbers c, a new call, and adds it.
func (r *recorder) add(c *call) *call {
	r.mu.Lock()
	defer r.mu.Unlock()
	c.n = len(r.calls) + 1
	r.calls = append(r.calls, c)
	return c
}

// clientCall starts a call from the client's side and numbers it in the
// outgoing metadata for the server interceptor.
func (r *recorder) clientCall(ctx context.Context, method string, sh shape) (*call, context.Context) {
	c := &call{method: method, shape: sh, client: true, ctx: ctx}
	if info, ok := ctx.Value(testKey{}).(*testInfo); ok {
		c.owner, c.failSafe = info.run, info.failSafe
	}
	r.add(c)
	return c, metadata.AppendToOutgoingContext(ctx, callHeader, strconv.Itoa(c.n))
}

// serverCall finds the call the client interceptor numbered in ctx's
// metadata, or starts one for a client the harness did not make.
func (r *recorder) serverCall(ctx context.Context, method string, sh shape) *call {
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
	return r.add(&call{method: method, shape: sh, server: true})
}

// watch records the end of one side's context, if it ends while the call is
// on, as an event. context.AfterFunc starts no goroutine until then. The
// returned func stops watching; if the end came first it makes sure that its
// event is recorded before whatever the caller records next.
func (r *recorder) watch(ctx context.Context, c *call, server bool) (stop func()) {
	note := sync.OnceFunc(func() {
		now, why := time.Now(), reasonOf(ctx)
		r.record(c, event{server: server, kind: evContextEnded, why: why}, func() {
			if server {
				c.serverEnd = now
			} else {
				c.clientEnd = ctxEnd{at: now, why: why}
			}
		})
	})
	stopWatching := context.AfterFunc(ctx, note)
	return func() {
		if !stopWatching() {
			note()
		}
	}
}
