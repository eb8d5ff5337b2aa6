package bidi_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
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

// newDepth counts the calls of atNewDepth.
var newDepth atomic.Int32

// atNewDepth calls fn a few frames deeper than last time. The race detector
// reports a pair of racing call stacks only once per test binary, so when a
// test runs again (go test -count=3) a race it reported before would pass
// unseen; a new depth makes the stacks, and so the report, new each time.
func atNewDepth(fn func()) {
	var deeper func(n int32)
	deeper = func(n int32) {
		if n > 0 {
			deeper(n - 1)
			return
		}
		fn()
	}
	deeper(newDepth.Add(1) % 64)
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
	harness.Call(t, "r.Read(time.Minute)", func() {
		atNewDepth(func() { got.reply, got.err = r.Read(time.Minute) })
	})
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

// lessonGoroutines returns, by id, every goroutine that runs your code or was
// started by it.
func lessonGoroutines() map[int]harness.Goroutine {
	mine := map[int]harness.Goroutine{}
	for _, g := range harness.Goroutines() {
		if strings.Contains(g.Stack, lessonPackage+".") {
			mine[g.ID] = g
		}
	}
	return mine
}

// currentGoroutine returns the id of the goroutine that calls it.
func currentGoroutine() int {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	id, _, _ := strings.Cut(strings.TrimPrefix(string(buf), "goroutine "), " ")
	n, _ := strconv.Atoi(id)
	return n
}

// blocked reports whether a goroutine in this state waits for another one:
// on a channel, a select or a WaitGroup. One running, ready to run, or queued
// on a mutex goes on by itself.
func blocked(state string) bool {
	switch state {
	case "running", "runnable", "syscall", "":
		return false
	}
	return !strings.Contains(state, "Mutex")
}

// othersBlocked reports whether every goroutine of your code but self is
// blocked, so that none of them will do anything until another one acts.
func othersBlocked(gs map[int]harness.Goroutine, self int) bool {
	for id, g := range gs {
		if id != self && !blocked(g.State) {
			return false
		}
	}
	return true
}

// blockedIn counts the goroutines of your code blocked inside fn, a
// function name as Go's goroutine dump writes it: "(*Writer[...]).Write".
func blockedIn(gs map[int]harness.Goroutine, fn string) int {
	n := 0
	for _, g := range gs {
		if blocked(g.State) && strings.Contains(g.Stack, lessonPackage+"."+fn+"(") {
			n++
		}
	}
	return n
}

// requireNoGoroutineLeft fails the test unless every goroutine of your code
// that was not in before has ended.
func requireNoGoroutineLeft(t *testing.T, before map[int]harness.Goroutine, what string) {
	t.Helper()
	var left []string
	gone := harness.Eventually(func() bool {
		left = left[:0]
		for id, g := range lessonGoroutines() {
			if _, old := before[id]; !old {
				left = append(left, g.Stack)
			}
		}
		return len(left) == 0
	})
	if !gone {
		sort.Strings(left)
		t.Fatalf("%s %d goroutine(s) of your code are still running after %v:\n\n%s",
			what, len(left), harness.WaitLimit, strings.Join(left, "\n\n"))
	}
}

// waitUntilWaitingIn waits until a goroutine of your code is blocked (on a
// channel, a select or a WaitGroup) inside fn, or until done is closed.
func waitUntilWaitingIn(t *testing.T, fn string, done <-chan struct{}, what string) {
	t.Helper()
	ok := harness.Eventually(func() bool {
		select {
		case <-done:
			return true
		default:
		}
		return blockedIn(lessonGoroutines(), fn) > 0
	})
	if !ok {
		harness.Blocked(t, what)
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
