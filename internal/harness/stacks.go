package harness

import (
	"bytes"
	"fmt"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
)

// This file reads Go's own goroutine dump to say where the lesson's code is
// stuck: which of its lines, and what that line waits on. Only frames of the
// lesson package (the learner's files) are named; grpc-go, the runtime and
// the tests are context.

type frame struct {
	fn   string // "github.com/…/lessons/05-pubsub.(*Hub).Publish"
	file string // absolute path
	line int
}

type goroutine struct {
	id     int
	state  string // "chan send", "sync.Mutex.Lock", "select", …
	frames []frame
}

// allGoroutines parses runtime.Stack of every goroutine.
func allGoroutines() []goroutine {
	return parseStacks(dumpAll())
}

// dumpAll is Go's goroutine dump: runtime.Stack of every goroutine.
func dumpAll() []byte {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return buf[:n]
		}
		buf = make([]byte, 2*len(buf))
	}
}

// Goroutine is one entry of Go's goroutine dump, for a test that must see
// where other goroutines wait: a Close still waiting for its reader, a
// handler inside GracefulStop. Events on channels cannot show that a
// goroutine has reached a blocking call; the dump can.
type Goroutine struct {
	ID    int
	State string // "chan send", "select", "sync.Mutex.Lock", "running", …
	Stack string // the dump's entry for it, header line included
}

// Goroutines returns every goroutine alive now.
func Goroutines() []Goroutine {
	var out []Goroutine
	for _, entry := range strings.Split(string(dumpAll()), "\n\n") {
		entry = strings.TrimSpace(entry)
		head, _, _ := strings.Cut(entry, "\n")
		idText, rest, ok := strings.Cut(strings.TrimPrefix(head, "goroutine "), " [")
		if !ok {
			continue
		}
		id, _ := strconv.Atoi(idText)
		state, _, _ := strings.Cut(rest, "]")
		state, _, _ = strings.Cut(state, ",") // drop ", 2 minutes"
		out = append(out, Goroutine{ID: id, State: state, Stack: entry})
	}
	return out
}

// currentGoroutine is the calling goroutine, with its frames.
func currentGoroutine() goroutine {
	buf := make([]byte, 4<<10)
	for {
		n := runtime.Stack(buf, false)
		if n < len(buf) {
			if gs := parseStacks(buf[:n]); len(gs) > 0 {
				return gs[0]
			}
			return goroutine{}
		}
		buf = make([]byte, 2*len(buf))
	}
}

// runsTest reports whether g is a test's own goroutine.
func (g goroutine) runsTest() bool {
	for _, f := range g.frames {
		if f.fn == "testing.tRunner" {
			return true
		}
	}
	return false
}

func parseStacks(dump []byte) []goroutine {
	var out []goroutine
	for _, block := range bytes.Split(dump, []byte("\n\n")) {
		lines := strings.Split(strings.TrimSpace(string(block)), "\n")
		if len(lines) == 0 || !strings.HasPrefix(lines[0], "goroutine ") {
			continue
		}
		var g goroutine
		head := strings.TrimPrefix(lines[0], "goroutine ")
		idText, rest, _ := strings.Cut(head, " ")
		g.id, _ = strconv.Atoi(idText)
		if i, j := strings.IndexByte(rest, '['), strings.LastIndexByte(rest, ']'); i >= 0 && j > i {
			g.state, _, _ = strings.Cut(rest[i+1:j], ",") // drop ", 2 minutes"
		}
		for k := 1; k+1 < len(lines); k += 2 {
			fn := lines[k]
			if strings.HasPrefix(fn, "created by ") {
				break
			}
			if i := strings.LastIndexByte(fn, '('); i > 0 {
				fn = fn[:i]
			}
			loc := strings.TrimSpace(lines[k+1])
			if i := strings.LastIndex(loc, " +0x"); i >= 0 {
				loc = loc[:i]
			}
			file, lineText := loc, ""
			if i := strings.LastIndexByte(loc, ':'); i >= 0 {
				file, lineText = loc[:i], loc[i+1:]
			}
			n, _ := strconv.Atoi(lineText)
			g.frames = append(g.frames, frame{fn: fn, file: file, line: n})
		}
		out = append(out, g)
	}
	return out
}

// testedPackage is the import path of the package under test, whose
// non-test files are the learner's code. Main sets it from its caller (the
// package's TestMain); a package without Main has it found from the frame of
// a test function. Both come from function names, not file paths, so they
// hold whatever the files' paths are: a file that go test -overlay puts in
// place is named in stack frames by the path it replaces, and -trimpath
// changes every path.
var testedPackage struct {
	sync.Mutex
	path string
}

// setTestedPackage notes the package of fn, a function name such as
// ".../lessons/05-pubsub_test.TestMain".
func setTestedPackage(fn string) string {
	path := strings.TrimSuffix(packageOf(fn), "_test")
	testedPackage.Lock()
	defer testedPackage.Unlock()
	testedPackage.path = path
	return path
}

// lessonPackage returns the package under test, looking in gs for a test
// function if Main did not say.
func lessonPackage(gs []goroutine) string {
	testedPackage.Lock()
	path := testedPackage.path
	testedPackage.Unlock()
	if path != "" {
		return path
	}
	for _, g := range gs {
		for i, f := range g.frames {
			if f.fn == "testing.tRunner" && i > 0 && !strings.HasPrefix(g.frames[i-1].fn, "testing.") {
				return setTestedPackage(g.frames[i-1].fn)
			}
		}
	}
	return ""
}

// packageOf returns the import path in a function's name.
func packageOf(fn string) string {
	slash := strings.LastIndexByte(fn, '/')
	if dot := strings.IndexByte(fn[slash+1:], '.'); dot >= 0 {
		return fn[:slash+1+dot]
	}
	return fn
}

// harnessPackage is this package's import path: its code is never the
// learner's, even in its own tests.
var harnessPackage = reflect.TypeFor[Server]().PkgPath()

// isLearnerFrame reports whether f is in the lesson's own (non-test) code.
func isLearnerFrame(f frame, pkg string) bool {
	return pkg != "" && pkg != harnessPackage && strings.HasPrefix(f.fn, pkg+".") && !strings.HasSuffix(f.file, "_test.go")
}

// shortFunc turns ".../lessons/05-pubsub.(*Hub).Publish" into "(*Hub).Publish".
func shortFunc(fn string) string {
	fn = fn[strings.LastIndexByte(fn, '/')+1:]
	if _, after, ok := strings.Cut(fn, "."); ok {
		return after
	}
	return fn
}

// where describes the innermost lesson frame of g and what it waits on, or
// "" if g is not in the lesson's code.
func (g goroutine) where(pkg string) string {
	for k, f := range g.frames {
		if !isLearnerFrame(f, pkg) {
			continue
		}
		callee := ""
		if k > 0 {
			callee = g.frames[k-1].fn
		}
		return fmt.Sprintf("%s:%d in %s: %s", filepath.Base(f.file), f.line, shortFunc(f.fn), waitsOn(g.state, callee))
	}
	return ""
}

// waitsOn says in words what a goroutine in state, having called callee, is
// waiting for.
func waitsOn(state, callee string) string {
	switch {
	case strings.Contains(callee, "RecvMsg") || strings.HasSuffix(callee, ".Recv"):
		return "waiting in Recv for the other side's next message (or its end)"
	case strings.Contains(callee, "SendMsg") || strings.HasSuffix(callee, ".Send"):
		return "blocked in Send: flow control holds a sender whose reader has stopped reading"
	case strings.Contains(callee, "CloseAndRecv") || strings.Contains(callee, "CloseSend"):
		return "waiting for the server's reply after closing the send side"
	}
	switch state {
	case "chan send":
		return "waiting to send on a channel that nobody is receiving from"
	case "chan receive":
		return "waiting to receive from a channel that nobody sends on or closes"
	case "chan send (nil chan)", "chan receive (nil chan)":
		return "using a nil channel, which blocks forever (was it ever made with make?)"
	case "select":
		return "in a select, waiting for one of its cases to be ready"
	case "select (no cases)":
		return "in select {}, which blocks forever"
	case "sync.Mutex.Lock", "sync.RWMutex.Lock", "sync.RWMutex.RLock":
		return "waiting to lock a mutex that is already locked, by another goroutine or by this one (Go's mutexes are not re-entrant)"
	case "sync.WaitGroup.Wait":
		return "in WaitGroup.Wait: a goroutine it waits for has not called Done"
	case "sync.Cond.Wait":
		return "in Cond.Wait: nobody signals it"
	case "sleep":
		return "sleeping"
	case "running", "runnable":
		return "running: a loop that never ends or never blocks?"
	}
	return "waiting (" + state + ")"
}

// stuckReport lists where the lesson's goroutines are stuck, the one with id
// first (0: no preference), each place once with how many goroutines wait
// there. It is "" when no goroutine is in the lesson's code.
func stuckReport(gs []goroutine, first int) string {
	pkg := lessonPackage(gs)
	var places []string // in the order shown
	count := map[string]int{}
	for _, g := range gs {
		w := g.where(pkg)
		if w == "" {
			continue
		}
		if count[w] == 0 {
			if g.id == first {
				places = append([]string{w}, places...)
			} else {
				places = append(places, w)
			}
		}
		count[w]++
	}
	if len(places) == 0 {
		return ""
	}
	lines := make([]string, 0, len(places))
	for _, w := range places {
		if n := count[w]; n > 1 {
			w += fmt.Sprintf(" (%d goroutines)", n)
		}
		lines = append(lines, w)
	}
	if len(lines) > 8 {
		lines = append(lines[:8], fmt.Sprintf("… and %d more places", len(lines)-8))
	}
	return "Where the lesson's code is stuck:\n  " + strings.Join(lines, "\n  ")
}

// panicLocation names the innermost lesson frame of the stack of a goroutine
// that panicked (debug.Stack), or "".
func panicLocation(stack []byte) string {
	gs := parseStacks(stack)
	if len(gs) == 0 {
		return ""
	}
	pkg := lessonPackage(nil)
	if pkg == "" { // debug.Stack has no test frame: look in every goroutine
		pkg = lessonPackage(allGoroutines())
	}
	for _, f := range gs[0].frames {
		if isLearnerFrame(f, pkg) {
			return fmt.Sprintf("%s:%d in %s", filepath.Base(f.file), f.line, shortFunc(f.fn))
		}
	}
	return ""
}
