package serverstream_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/grpc-workbook/streaming/internal/harness"
	serverstream "github.com/grpc-workbook/streaming/lessons/02-server-stream"
	"github.com/grpc-workbook/streaming/lessons/02-server-stream/logpb"
)

// The machinery the lesson's tests share: your Server served in memory, the
// tests' own scripted server for testing your client code, fake streams that
// fail on cue, and small helpers to compare lines.

// storedLogs are the logs your Server replays. Nothing writes to them.
var storedLogs = map[string][]string{
	"build.log": {"compiling", "linking", "done"},
	"empty.log": {},
	// Line 3 is not valid UTF-8, so it cannot travel in a proto string.
	"disk.log": {"mounted /", "mounted /home", "\xff\xfe sector 9 unreadable", "unmounted /home"},
}

// logService is your Server, served in memory for one test.
type logService struct {
	client logpb.LogServiceClient
	srv    *harness.Server
	live   chan<- string // write a line: it is written to the live log
	// endLive closes live: the live log is over. The test ends it at the
	// latest when it ends, so no handler stays blocked on it.
	endLive func()
}

func startLogs(t *testing.T) *logService {
	t.Helper()
	live := make(chan string)
	srv := harness.Start(t, func(s *grpc.Server) {
		logpb.RegisterLogServiceServer(s, serverstream.NewServer(storedLogs, live))
	})
	l := &logService{client: logpb.NewLogServiceClient(srv.Conn), srv: srv, live: live, endLive: sync.OnceFunc(func() { close(live) })}
	t.Cleanup(l.endLive)
	return l
}

// scriptedLogs is the tests' own LogService. Tests of your client code
// (ReadAll, FollowN, All, Reader) talk to it, so they depend on that code
// alone and not on your Server.
type scriptedLogs struct {
	logpb.UnimplementedLogServiceServer

	// Replay sends lines, then returns end (nil ends the call with OK).
	lines []*logpb.LogLine
	end   error

	// Follow first calls onFollow (if set), then sends what arrives on live
	// until live is closed (then it returns end) or the client leaves. With
	// live nil it sends numbered lines without end instead.
	live     <-chan *logpb.LogLine
	onFollow func()
}

func (s *scriptedLogs) Replay(_ *logpb.ReplayRequest, stream grpc.ServerStreamingServer[logpb.LogLine]) error {
	for _, line := range s.lines {
		if err := stream.Send(line); err != nil {
			return err
		}
	}
	return s.end
}

func (s *scriptedLogs) Follow(_ *logpb.FollowRequest, stream grpc.ServerStreamingServer[logpb.LogLine]) error {
	if s.onFollow != nil {
		s.onFollow()
	}
	ctx := stream.Context()
	for n := int64(1); ; n++ {
		line := &logpb.LogLine{Number: n, Text: "tick"}
		if s.live != nil {
			var ok bool
			select {
			case line, ok = <-s.live:
				if !ok {
					return s.end
				}
			case <-ctx.Done():
				return status.FromContextError(ctx.Err()).Err()
			}
		}
		if err := stream.Send(line); err != nil {
			return err
		}
	}
}

// startScripted serves logs in memory and returns a client for it.
func startScripted(t *testing.T, logs *scriptedLogs) (logpb.LogServiceClient, *harness.Server) {
	t.Helper()
	srv := harness.Start(t, func(s *grpc.Server) { logpb.RegisterLogServiceServer(s, logs) })
	return logpb.NewLogServiceClient(srv.Conn), srv
}

// closedLive is a live log that holds lines and is already over.
func closedLive(lines ...*logpb.LogLine) chan *logpb.LogLine {
	live := make(chan *logpb.LogLine, len(lines))
	for _, line := range lines {
		live <- line
	}
	close(live)
	return live
}

// fakeStream is a server stream with no network under it, for calling a
// handler directly. A test decides exactly which Send fails and when the
// stream's context ends, which a real stream cannot be made to do on cue.
type fakeStream struct {
	grpc.ServerStream // nil: only Send and Context are meant to be called

	ctx    context.Context
	cancel context.CancelFunc

	failAt   int   // the Send (counting from 1) that returns failWith; 0: none
	failWith error // what it returns
	cancelAt int   // the Send during which the client leaves (it still succeeds); 0: never

	mu     sync.Mutex
	calls  int              // Send calls so far
	sent   []*logpb.LogLine // lines whose Send returned nil
	failed error            // what a Send returned, once one has failed
}

// newFakeStream returns a stream whose context ends when the test does, or
// when Send number cancelAt is made.
func newFakeStream(t *testing.T, failAt int, failWith error, cancelAt int) *fakeStream {
	ctx, cancel := context.WithCancel(t.Context())
	return &fakeStream{ctx: ctx, cancel: cancel, failAt: failAt, failWith: failWith, cancelAt: cancelAt}
}

func (f *fakeStream) Context() context.Context { return f.ctx }

// Send succeeds until Send number failAt, which fails; after the context
// ended, it fails as a real Send eventually does. Calling it again after a
// failure panics: the handler is told which of its lines did so.
func (f *fakeStream) Send(line *logpb.LogLine) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failed != nil {
		panic(fmt.Sprintf("Send was called again after it had returned %s. A Send that fails has ended the stream: return its error instead of sending more",
			harness.Describe(f.failed)))
	}
	f.calls++
	switch {
	case f.calls == f.failAt:
		f.failed = f.failWith
	case f.ctx.Err() != nil:
		f.failed = status.FromContextError(f.ctx.Err()).Err()
	}
	if f.failed != nil {
		return f.failed
	}
	if f.calls == f.cancelAt {
		f.cancel()
	}
	f.sent = append(f.sent, line)
	return nil
}

// sentLines are the lines whose Send succeeded.
func (f *fakeStream) sentLines() []*logpb.LogLine {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*logpb.LogLine(nil), f.sent...)
}

// sendCalls is how many times Send was called.
func (f *fakeStream) sendCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// countSends wraps your Server so that a test sees each Firehose Send return.
type countSends struct {
	*serverstream.Server
	returned chan int64 // the number of each line whose Send returned nil
	ended    chan error // what Firehose returned
}

func (c countSends) Firehose(req *logpb.FirehoseRequest, stream grpc.ServerStreamingServer[logpb.LogLine]) error {
	err := c.Server.Firehose(req, countedStream{stream, c.returned})
	c.ended <- err
	return err
}

type countedStream struct {
	grpc.ServerStreamingServer[logpb.LogLine]
	returned chan<- int64
}

func (s countedStream) Send(line *logpb.LogLine) error {
	err := s.ServerStreamingServer.Send(line)
	if err == nil {
		select { // never block the handler: a test that stops looking loses nothing it needs
		case s.returned <- line.GetNumber():
		default:
		}
	}
	return err
}

// numbered makes LogLines numbered from 1.
func numbered(texts ...string) []*logpb.LogLine {
	lines := make([]*logpb.LogLine, len(texts))
	for i, text := range texts {
		lines[i] = &logpb.LogLine{Number: int64(i + 1), Text: text}
	}
	return lines
}

// assertLines checks that got holds the lines of want, in order, comparing
// messages with proto.Equal.
func assertLines(t *testing.T, want, got []*logpb.LogLine, what string) bool {
	t.Helper()
	same := len(want) == len(got)
	for i := 0; same && i < len(want); i++ {
		same = proto.Equal(want[i], got[i])
	}
	if !same {
		t.Errorf("%s:\n  want %d lines %s\n  got  %d lines %s", what, len(want), show(want), len(got), show(got))
	}
	return same
}

// show renders lines compactly: [1:"compiling" 2:"linking"].
func show(lines []*logpb.LogLine) string {
	parts := make([]string, len(lines))
	for i, l := range lines {
		parts[i] = fmt.Sprintf("%d:%q", l.GetNumber(), l.GetText())
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// recvUntilError is the test's own read loop: it calls Recv until it returns
// an error, and returns the lines before it and the error (io.EOF when the
// stream ended with OK).
func recvUntilError(stream grpc.ServerStreamingClient[logpb.LogLine]) ([]*logpb.LogLine, error) {
	var lines []*logpb.LogLine
	for {
		line, err := stream.Recv()
		if err != nil {
			return lines, err
		}
		lines = append(lines, line)
	}
}

// requireEOF stops the test unless end, the error that ended a stream, is
// io.EOF: the stream ended with OK.
func requireEOF(t *testing.T, end error, call string) {
	t.Helper()
	if !errors.Is(end, io.EOF) {
		harness.RequireOK(t, end, call)
	}
}

// received is one Recv's result.
type received struct {
	line *logpb.LogLine
	err  error
}

// receiveInBackground calls Recv on its own goroutine until it returns an
// error, and hands over every result, the error last. It ends with the stream.
func receiveInBackground(stream grpc.ServerStreamingClient[logpb.LogLine]) <-chan received {
	out := make(chan received, 1024)
	go func() {
		defer close(out)
		for {
			line, err := stream.Recv()
			out <- received{line, err}
			if err != nil {
				return
			}
		}
	}()
	return out
}

// openFollow opens Follow on client with a child of ctx that the test can
// cancel.
func openFollow(t *testing.T, ctx context.Context, client logpb.LogServiceClient) (grpc.ServerStreamingClient[logpb.LogLine], context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	stream, err := client.Follow(ctx, &logpb.FollowRequest{})
	harness.RequireOK(t, err, "opening Follow")
	return stream, cancel
}

// statusMessage is the message part of a status error.
func statusMessage(err error) string {
	return status.Convert(err).Message()
}

// assertStreamError checks that the lesson's code handed back want, the
// error a stream's Recv or Send returned (from names which), as it was: the
// same code and the same message.
func assertStreamError(t *testing.T, want, got error, call, from string) bool {
	t.Helper()
	if status.Code(got) == status.Code(want) && statusMessage(got) == statusMessage(want) {
		return true
	}
	t.Errorf("%s: got %s, want the error %s returned, %s, as it was (not wrapped, not replaced).",
		call, describeErr(got), from, harness.Describe(want))
	return false
}

// assertHandlerCode checks the error one of your handlers returned. A bare
// ctx.Err() gets its own message: grpc-go v1.85 turns it into the right status
// only as it writes the status to the client, so until then (in interceptors,
// in logs, in this test) it is a plain error whose status.Code is Unknown.
func assertHandlerCode(t *testing.T, err error, want codes.Code, call string) bool {
	t.Helper()
	if _, isStatus := status.FromError(err); !isStatus && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		t.Errorf("%s: got the plain error %q (ctx.Err()), want a status error with codes.%s.\n"+
			"Return status.FromContextError(ctx.Err()).Err(): grpc-go would convert a bare ctx.Err() only as it writes the status "+
			"to the client; until then interceptors, logs and this test see status.Code Unknown.", call, err.Error(), want)
		return false
	}
	return harness.AssertCode(t, err, want, call)
}

// assertNoError checks that the lesson's client code reported success.
func assertNoError(t *testing.T, err error, call string) bool {
	t.Helper()
	if err == nil {
		return true
	}
	why := ""
	if errors.Is(err, io.EOF) {
		why = "\nio.EOF from Recv is how a stream says it ended with status OK: it is the end of a good stream, not an error to pass on."
	}
	t.Errorf("%s: got %s, want no error.%s", call, describeErr(err), why)
	return false
}

// outcome is how a call made in the background ended.
type outcome[T any] struct {
	value    T
	panicked bool
	panic    any
	stack    string
}

// inBackground runs fn, a call into the lesson's code that is meant to block
// for a while, on a goroutine of its own, and hands over how it ended. A
// panic is caught and handed over too, for await to report.
func inBackground[T any](fn func() T) <-chan outcome[T] {
	out := make(chan outcome[T], 1)
	go func() {
		returned := false
		defer func() {
			if !returned {
				out <- outcome[T]{panicked: true, panic: recover(), stack: string(debug.Stack())}
			}
		}()
		v := fn()
		returned = true
		out <- outcome[T]{value: v}
	}()
	return out
}

// await waits (up to harness.WaitLimit) for a call started with inBackground
// to end, and fails the test if it panicked, naming the lesson's line.
func await[T any](t *testing.T, ch <-chan outcome[T], call string) T {
	t.Helper()
	o := harness.Wait(t, ch, call+" to return")
	if o.panicked {
		t.Fatalf("%s panicked: %v%s", call, o.panic, lessonLine(o.stack))
	}
	return o.value
}

// lessonLine names the innermost line of the lesson's own code in a stack.
func lessonLine(stack string) string {
	for line := range strings.SplitSeq(stack, "\n") {
		line = strings.TrimSpace(line)
		if strings.Contains(line, "/02-server-stream/") && strings.Contains(line, ".go:") &&
			!strings.Contains(line, "_test.go") && !strings.Contains(line, "/logpb/") {
			if i := strings.LastIndex(line, " +0x"); i >= 0 {
				line = line[:i]
			}
			return "\n  at " + line[strings.LastIndex(line, "/")+1:]
		}
	}
	return ""
}

// waitingIn counts the goroutines that are blocked (not running) with fn on
// their stack, fn as the goroutine dump spells it.
func waitingIn(fn string) int {
	count := 0
	for _, g := range harness.Goroutines() {
		if g.State != "running" && g.State != "runnable" && strings.Contains(g.Stack, fn) {
			count++
		}
	}
	return count
}

// blockingRecv is a stream whose Recv blocks until the test releases it. It
// notes when the Reader cancels it and when its Recv has returned, so a test
// can tell whether Close waited for the Reader's goroutine.
type blockingRecv struct {
	entered   chan struct{} // receives once per Recv call, as it starts
	cancelled chan struct{} // closed by cancel
	release   chan struct{} // closed by releaseAll: Recv returns Canceled
	returned  atomic.Bool   // a Recv has returned

	releaseAll func() // lets every Recv return; safe to call more than once
}

func newBlockingRecv(t *testing.T) (*blockingRecv, context.CancelFunc) {
	b := &blockingRecv{entered: make(chan struct{}, 64), cancelled: make(chan struct{}), release: make(chan struct{})}
	b.releaseAll = sync.OnceFunc(func() { close(b.release) })
	t.Cleanup(b.releaseAll) // whatever happened, nothing stays blocked in Recv
	return b, sync.OnceFunc(func() { close(b.cancelled) })
}

func (b *blockingRecv) Recv() (*logpb.LogLine, error) {
	select {
	case b.entered <- struct{}{}:
	default:
	}
	<-b.release
	b.returned.Store(true)
	return nil, status.Error(codes.Canceled, "context canceled")
}

// readerBench is a Reader over a Follow stream of the scripted server, whose
// lines the test writes to live; closing live ends the stream with end.
type readerBench struct {
	reader *serverstream.Reader[logpb.LogLine]
	clock  *harness.FakeClock
	timers chan time.Duration // one value per timer the Reader starts
	live   chan *logpb.LogLine
	srv    *harness.Server
	recv   *harness.ObservedRecv[logpb.LogLine] // the stream, as the Reader sees it
	calls  *countRecv
}

func newReaderBench(t *testing.T, end error) *readerBench {
	t.Helper()
	b := &readerBench{clock: harness.NewFakeClock(), timers: make(chan time.Duration, 64), live: make(chan *logpb.LogLine)}
	var client logpb.LogServiceClient
	client, b.srv = startScripted(t, &scriptedLogs{live: b.live, end: end})
	ctx, cancel := context.WithCancel(harness.Context(t))
	t.Cleanup(cancel)
	stream, err := client.Follow(ctx, &logpb.FollowRequest{})
	harness.RequireOK(t, err, "opening Follow")

	b.recv = harness.ObserveRecv[logpb.LogLine](stream)
	b.calls = &countRecv{stream: b.recv}
	after := func(d time.Duration) <-chan time.Time {
		ch := b.clock.After(d)
		b.timers <- d
		return ch
	}
	harness.Call(t, "NewReader(stream, cancel, after)", func() { b.reader = serverstream.NewReader(b.calls, cancel, after) })
	if b.reader == nil {
		t.Fatal("NewReader returned nil: return the *Reader it built")
	}
	t.Cleanup(func() { harness.Call(t, "reader.Close()", b.reader.Close) })
	return b
}

// countRecv counts the Recv calls made on a stream.
type countRecv struct {
	stream serverstream.Receiver[logpb.LogLine]
	n      atomic.Int32
}

func (c *countRecv) Recv() (*logpb.LogLine, error) {
	c.n.Add(1)
	return c.stream.Recv()
}

// write sends a line down the stream.
func (b *readerBench) write(t *testing.T, line *logpb.LogLine) {
	t.Helper()
	select {
	case b.live <- line:
	case <-harness.Timeout():
		harness.Blocked(t, fmt.Sprintf("the test's server to take line %d and send it", line.GetNumber()))
	}
}

// readResult is what one Read returned.
type readResult struct {
	line *logpb.LogLine
	err  error
}

// readInBackground calls Read(timeout) on its own goroutine.
func (b *readerBench) readInBackground(timeout time.Duration) <-chan outcome[readResult] {
	return inBackground(func() readResult {
		line, err := b.reader.Read(timeout)
		return readResult{line, err}
	})
}

// read calls Read(time.Minute) for a message that is on its way or an end
// that has been reached, so no timer needs to fire.
func (b *readerBench) read(t *testing.T) readResult {
	t.Helper()
	var got readResult
	harness.Call(t, "reader.Read(time.Minute)", func() { got.line, got.err = b.reader.Read(time.Minute) })
	return got
}

// startRead calls Read(timeout) with nothing on its way, and returns once
// Read has started its timer: Read is then waiting.
func (b *readerBench) startRead(t *testing.T, timeout time.Duration) (result <-chan outcome[readResult], timer int) {
	t.Helper()
	result = b.readInBackground(timeout)
	select {
	case d := <-b.timers:
		assert.Equal(t, timeout, d, "the timer Read(%v) started: pass Read's timeout to after", timeout)
		timer, _ = b.clock.WaitForTimer(t)
		return result, timer
	case o := <-result:
		if o.panicked {
			t.Fatalf("reader.Read(%v) panicked: %v%s", timeout, o.panic, lessonLine(o.stack))
		}
		t.Fatalf("reader.Read(%v) returned %s with nothing on the stream, and without starting a timer: it should wait, for a line or for the timer from after(%v)",
			timeout, describeRead(o.value), timeout)
	case <-harness.Timeout():
		harness.Blocked(t, fmt.Sprintf("reader.Read(%v) to start a timer with after(%v)", timeout, timeout))
	}
	panic("unreachable")
}

// readUntilTimeout calls Read(timeout) with nothing on its way, fires the
// timer Read starts, and returns what Read returned.
func (b *readerBench) readUntilTimeout(t *testing.T, timeout time.Duration) readResult {
	t.Helper()
	result, timer := b.startRead(t, timeout)
	b.clock.Fire(timer)
	return await(t, result, fmt.Sprintf("reader.Read(%v), after its timer fired,", timeout))
}

// describeErr renders an error the lesson's code returned: a status, one of
// io's sentinel errors, or a plain Go error.
func describeErr(err error) string {
	switch _, isStatus := status.FromError(err); {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "io.ErrUnexpectedEOF"
	case err == nil || isStatus || errors.Is(err, io.EOF):
		return harness.Describe(err)
	default:
		return fmt.Sprintf("the error %q", err.Error())
	}
}

// describeRead renders what a Read returned.
func describeRead(r readResult) string {
	if r.err != nil {
		return describeErr(r.err)
	}
	if r.line == nil {
		return "no line and no error"
	}
	return "line " + show([]*logpb.LogLine{r.line})
}

// requireLine stops the test unless got is the line want, with no error.
func requireLine(t *testing.T, want *logpb.LogLine, got readResult, what string) {
	t.Helper()
	if !proto.Equal(want, got.line) || got.err != nil {
		t.Fatalf("%s: got %s, want line %s", what, describeRead(got), show([]*logpb.LogLine{want}))
	}
}

// writeLive writes text to the live log, unless the Follow stream has already
// ended (then the test fails, saying how it ended).
func writeLive(t *testing.T, live chan<- string, text string, results <-chan received) {
	t.Helper()
	select {
	case live <- text:
	case r := <-results:
		harness.RequireOK(t, r.err, "Follow, while the test was writing a line to the live log")
		t.Fatalf("Follow sent line %s before anything was written to the live log", show([]*logpb.LogLine{r.line}))
	case <-harness.Timeout():
		harness.Blocked(t, fmt.Sprintf("Follow to take the line %q from the live log (s.live)", text))
	}
}

// nextLine waits for the next line the background receiver got.
func nextLine(t *testing.T, results <-chan received, what string) *logpb.LogLine {
	t.Helper()
	r := harness.Wait(t, results, what)
	harness.RequireOK(t, r.err, what)
	return r.line
}

// maxYields bounds the test's loops, so an iterator that never stops fails
// the test instead of hanging it.
const maxYields = 100

// rangeAll ranges over All(stream) as a learner's loop would, and collects
// what it yields.
func rangeAll(t *testing.T, stream serverstream.Receiver[logpb.LogLine]) (lines []*logpb.LogLine, errs []error) {
	t.Helper()
	harness.Call(t, "for line, err := range All(stream)", func() {
		for line, err := range serverstream.All(stream) {
			if err != nil {
				errs = append(errs, err)
			} else {
				lines = append(lines, line)
			}
			if len(lines)+len(errs) >= maxYields {
				return
			}
		}
	})
	if len(lines)+len(errs) >= maxYields {
		t.Fatalf("All yielded %d times on a stream of at most 3 lines: after io.EOF, or after yielding an error, return", maxYields)
	}
	return lines, errs
}

// readerClose is how the dump of a goroutine inside Reader.Close reads.
const readerClose = "02-server-stream.(*Reader[...]).Close("

// closeReturnedEarly fails the test: a Close call returned while the Reader's
// goroutine was still inside Recv.
func closeReturnedEarly(t *testing.T, o outcome[struct{}]) {
	t.Helper()
	if o.panicked {
		t.Fatalf("reader.Close() panicked: %v%s\nTwo goroutines called Close at once: make the work happen once (sync.Once), and let every call wait.", o.panic, lessonLine(o.stack))
	}
	t.Fatal("reader.Close() returned while the Reader's goroutine was still inside Recv: " +
		"after cancelling, Close must wait until that goroutine has returned (for example, <-r.exited, a channel the goroutine closes as it returns), " +
		"in every call, not only the first")
}
