package harness

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// This file keeps what the harness knows about each test that calls it: the
// servers it started, when it started, and what it does when it ends. The
// first harness call a test makes registers it (track); the one cleanup that
// registers does everything the harness does when a test ends.

// testRun is one test (or subtest) that has called the harness.
type testRun struct {
	t         testing.TB
	name      string
	started   time.Time
	goroutine int // the goroutine that called track: the test's own, as a rule
	done      <-chan struct{}

	recorders []*recorder // of the servers it started; under runs' lock
	place     string      // where the watchdog last saw it; under runs' lock
}

// ended reports whether the test's function has returned.
func (tr *testRun) ended() bool {
	select {
	case <-tr.done:
		return true
	default:
		return false
	}
}

// runs holds the tests in progress that have called the harness.
var runs = struct {
	sync.Mutex
	byT map[testing.TB]*testRun
}{byT: map[testing.TB]*testRun{}}

// track registers t on its first harness call. When t ends, if it failed,
// its one cleanup notes what was in progress (freezeAll), prints the
// transcript of each server it started, and last points at its README task.
// Start calls track before it registers the server's own cleanup, so that
// this one runs after the server stopped: a transcript then shows how the
// calls ended too.
func track(t testing.TB) *testRun {
	t.Helper() // so that what the cleanup logs is placed at the test's first harness call
	runs.Lock()
	if tr := runs.byT[t]; tr != nil {
		runs.Unlock()
		return tr
	}
	tr := &testRun{t: t, name: t.Name(), started: time.Now(), done: t.Context().Done()}
	if g := currentGoroutine(); g.runsTest() {
		tr.goroutine = g.id
	}
	runs.byT[t] = tr
	runs.Unlock()
	crashNote("run", tr.name)
	t.Cleanup(func() {
		t.Helper() // what it logs is the test's, not this file's
		if t.Failed() {
			freezeAll(t, tr.name+" ended", false)
			for i, r := range tr.recorders {
				of := ""
				if len(tr.recorders) > 1 { // say which, in the order the test started them
					of = fmt.Sprintf("of server %d of %d", i+1, len(tr.recorders))
				}
				t.Log(r.render(of))
			}
			t.Log(pointer(tr.name))
		}
		runs.Lock()
		delete(runs.byT, t)
		runs.Unlock()
		crashNote("end", tr.name)
	})
	return tr
}

// addRecorder notes a server that tr started.
func (tr *testRun) addRecorder(r *recorder) {
	runs.Lock()
	defer runs.Unlock()
	tr.recorders = append(tr.recorders, r)
}

// visibleRuns returns t's run and its ancestors' that are in progress, t's
// first: a subtest often uses the server its parent started.
func visibleRuns(t testing.TB) []*testRun {
	runs.Lock()
	defer runs.Unlock()
	name := t.Name()
	var found []*testRun
	for tb, tr := range runs.byT {
		if tb == t || strings.HasPrefix(name, tr.name+"/") {
			found = append(found, tr)
		}
	}
	sort.Slice(found, func(i, j int) bool { return len(found[i].name) > len(found[j].name) })
	return found
}

// recordersOf returns the recorders of t's servers and its ancestors'.
func recordersOf(t testing.TB) []*recorder {
	var rs []*recorder
	for _, tr := range visibleRuns(t) {
		runs.Lock()
		rs = append(rs, tr.recorders...)
		runs.Unlock()
	}
	return rs
}

// freezeAll notes, once per server that t can see, what was in progress when
// t failed. It returns the report for a failure message ("" if nothing was
// in progress or it was noted before); told says the caller prints it, so the
// transcript need not repeat it.
func freezeAll(t testing.TB, reason string, told bool) string {
	var b strings.Builder
	for _, r := range recordersOf(t) {
		b.WriteString(r.freeze(reason, time.Now(), told))
	}
	if b.Len() == 0 {
		return ""
	}
	return "\n" + strings.TrimRight(b.String(), "\n") + "\n(the test's gRPC transcript is printed when it ends)"
}

// Contexts from Context carry their test, so that the recorder knows whose
// call it is and when its fail-safe fires, and end with a cause that says
// whether the harness ended them.
type testKey struct{}

type testInfo struct {
	run      *testRun
	failSafe time.Time
}

var (
	errFailSafe  = errors.New("the harness's fail-safe deadline (CallTimeout) passed")
	errTestEnded = errors.New("the test ended")
)

// Context returns a context for the test's RPCs that ends at CallTimeout, or
// when the test ends, whichever comes first.
func Context(t testing.TB) context.Context {
	t.Helper()
	info := &testInfo{run: track(t)}
	base, end := context.WithCancelCause(context.WithValue(context.Background(), testKey{}, info))
	ctx, cancel := context.WithTimeoutCause(base, CallTimeout, errFailSafe)
	info.failSafe, _ = ctx.Deadline()
	context.AfterFunc(t.Context(), func() { end(errTestEnded); cancel() })
	return ctx
}

// endReason is why a context ended.
type endReason uint8

const (
	endNone      endReason = iota // it has not ended
	endCancelled                  // the code under test (or the test) cancelled it
	endDeadline                   // a deadline of its own passed
	endFailSafe                   // the harness's fail-safe deadline passed
	endTestEnded                  // the test ended
)

func reasonOf(ctx context.Context) endReason {
	switch {
	case ctx.Err() == nil:
		return endNone
	case errors.Is(context.Cause(ctx), errFailSafe):
		return endFailSafe
	case errors.Is(context.Cause(ctx), errTestEnded):
		return endTestEnded
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return endDeadline
	}
	return endCancelled
}
