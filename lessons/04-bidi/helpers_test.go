package bidi_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/internal/harness"
	bidi "github.com/grpc-workbook/streaming/lessons/04-bidi"
	"github.com/grpc-workbook/streaming/lessons/04-bidi/bidipb"
)

// This file is the tests' machinery: calls into your code that fail within
// seconds instead of hanging, and a look at which of your goroutines are
// still running.

func add(id, a, b int64) *bidipb.CalcRequest {
	return &bidipb.CalcRequest{Id: id, Op: bidipb.Op_OP_ADD, A: a, B: b}
}

// write calls w.Write through harness.Call: a Write that blocks fails the
// test within seconds, naming your line.
func write(t *testing.T, w *bidi.Writer[bidipb.CalcRequest], req *bidipb.CalcRequest) error {
	t.Helper()
	var err error
	harness.Call(t, fmt.Sprintf("w.Write(request %d)", req.GetId()), func() { err = w.Write(req) })
	return err
}

func doneWriting(t *testing.T, w *bidi.Writer[bidipb.CalcRequest]) {
	t.Helper()
	harness.Call(t, "w.DoneWriting()", w.DoneWriting)
}

func waitWriter(t *testing.T, w *bidi.Writer[bidipb.CalcRequest]) error {
	t.Helper()
	var err error
	harness.Call(t, "w.Wait()", func() { err = w.Wait() })
	return err
}

type readResult struct {
	reply *bidipb.CalcReply
	err   error
}

// read calls r.Read for a result that is already on its way (a message, or
// the end of the stream): nobody fires the clock, so only the stream can
// make it return.
func read(t *testing.T, r *bidi.Reader[bidipb.CalcReply]) readResult {
	t.Helper()
	var got readResult
	harness.Call(t, "r.Read(time.Minute)", func() { got.reply, got.err = r.Read(time.Minute) })
	return got
}

// readInBackground calls r.Read on its own goroutine, for a Read that must
// wait for the test to fire its timer.
func readInBackground(r *bidi.Reader[bidipb.CalcReply], timeout time.Duration) <-chan readResult {
	done := make(chan readResult, 1)
	go func() {
		reply, err := r.Read(timeout)
		done <- readResult{reply, err}
	}()
	return done
}

// lessonPackage is the import path of the code you write.
var lessonPackage = reflect.TypeFor[bidi.Departure]().PkgPath()

// lessonGoroutines returns, by id, the stack of every goroutine that runs
// your code or was started by it.
func lessonGoroutines() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	mine := map[string]string{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		head, _, _ := strings.Cut(g, "\n")
		id, _, _ := strings.Cut(strings.TrimPrefix(head, "goroutine "), " ")
		if strings.Contains(g, lessonPackage+".") {
			mine[id] = g
		}
	}
	return mine
}

// requireNoGoroutineLeft fails the test unless every goroutine of your code
// that was not in before has ended. A goroutine that has done its work may
// still need a moment to exit, and nothing signals that, so this looks
// again for up to WaitLimit, as goleak does.
func requireNoGoroutineLeft(t *testing.T, before map[string]string, what string) {
	t.Helper()
	deadline := time.Now().Add(harness.WaitLimit)
	for pause := 100 * time.Microsecond; ; pause = min(2*pause, 20*time.Millisecond) {
		var left []string
		for id, stack := range lessonGoroutines() {
			if _, old := before[id]; !old {
				left = append(left, stack)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			sort.Strings(left)
			t.Fatalf("%s, %d goroutine(s) of your code are still running after %v:\n\n%s",
				what, len(left), harness.WaitLimit, strings.Join(left, "\n\n"))
		}
		time.Sleep(pause)
	}
}

// sent is what gRPC sends for a handler's error: a context error becomes its
// status (Canceled, DeadlineExceeded), as the grpc.StreamHandler docs say,
// so returning ctx.Err() is as good as converting it yourself.
func sent(err error) error {
	if _, ok := status.FromError(err); ok || err == nil {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	return err
}
