package harness

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// The watchdog ends the test binary when a test has been running for longer
// than testLimit: its goroutine cannot be stopped, so no later test could
// run anyway, and go test would otherwise wait ten minutes and print a bare
// goroutine dump. It looks only at the tests that called the harness (every
// lesson test does, through See at least), which it knows without a stack
// dump: a dump, which stops the world, is taken only when one is overdue.

func watch() (stop func()) {
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		ticker := time.NewTicker(testLimit / 16)
		defer ticker.Stop()
		for {
			select {
			case <-quit:
				return
			case <-ticker.C:
				if late := overdue(); len(late) > 0 {
					checkHung(late)
				}
			}
		}
	}()
	return func() { close(quit); <-done }
}

// overdue returns the tests (not benchmarks) that have run past testLimit.
func overdue() []*testRun {
	runs.Lock()
	defer runs.Unlock()
	var late []*testRun
	for _, tr := range runs.byT {
		if _, benchmark := tr.t.(*testing.B); !benchmark && time.Since(tr.started) > testLimit {
			late = append(late, tr)
		}
	}
	return late
}

// checkHung reports a test of late that is really stuck, and ends the
// binary. A test that waits for its subtests, or for its turn to run in
// parallel, is not: its clock starts again. Nor is one caught moving: it is
// stuck only if two looks a tick apart find it at the same place.
func checkHung(late []*testRun) {
	gs := allGoroutines()
	for _, tr := range late {
		g, found := goroutineByID(gs, tr.goroutine)
		runs.Lock()
		switch place := g.place(); {
		case found && g.waitsForOtherTests():
			tr.started, tr.place = time.Now(), ""
		case !found && time.Since(tr.started) < 2*testLimit:
			// track ran on another goroutine: give it longer, as we cannot look
		case found && place != tr.place:
			tr.place = place
		default:
			runs.Unlock()
			hung(tr.name, g, gs)
		}
		runs.Unlock()
	}
}

// place is where g is: its frames, for telling a stuck goroutine from a
// moving one.
func (g goroutine) place() string { return fmt.Sprint(g.state, g.frames) }

func goroutineByID(gs []goroutine, id int) (goroutine, bool) {
	for _, g := range gs {
		if g.id == id && id != 0 {
			return g, true
		}
	}
	return goroutine{}, false
}

// waitsForOtherTests reports whether g, a test's goroutine, waits in t.Run
// for a subtest or in t.Parallel for its turn.
func (g goroutine) waitsForOtherTests() bool {
	for _, f := range g.frames {
		if f.fn == "testing.(*T).Run" || f.fn == "testing.(*T).Parallel" {
			return true
		}
	}
	return false
}

// hung reports a stuck test, as go test reports a failed one, and exits.
func hung(name string, g goroutine, gs []goroutine) {
	var b strings.Builder
	b.WriteString(failLine(name, "hung"))
	fmt.Fprintf(&b, "    %s has run for more than %v and is stuck: a correct answer takes milliseconds, so the test binary stops here.\n", name, testLimit)
	if r := stuckReport(gs, g.id); r != "" {
		b.WriteString("    " + strings.ReplaceAll(r, "\n", "\n    ") + "\n")
	}
	for _, f := range g.frames {
		if strings.HasSuffix(f.file, "_test.go") {
			fmt.Fprintf(&b, "    The test waits at %s:%d.\n", f.file[strings.LastIndexByte(f.file, '/')+1:], f.line)
			break
		}
	}
	fmt.Fprintf(&b, "    %s\n", pointer(name))
	b.WriteString(finalFail())
	os.Stdout.WriteString(b.String())
	os.Exit(1)
}
