package harness

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Main runs a lesson's tests; call it from TestMain:
//
//	func TestMain(m *testing.M) { harness.Main(m) }
//
// Besides running the tests it
//   - ends the test binary, within seconds, when one test is stuck (its
//     goroutine blocked past every limit the harness sets), printing which
//     test, its task, and where the lesson's code waits: without this, go
//     test would sit for ten minutes and then print a bare goroutine dump;
//   - fails the package if any goroutine outlives the tests (goleak): a
//     handler that never returned, a stream nobody drained.
func Main(m *testing.M) {
	stop := watch()
	code := m.Run()
	stop()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Printf("Goroutines are still running after every test passed: something the lesson started never stopped.\n%s\n\ngoleak's report:\n%v\n",
				leakSummary(), err)
			code = 1
		}
	}
	os.Exit(code)
}

// leakSummary names where leaked goroutines sit in the lesson's code.
func leakSummary() string {
	if r := stuckReport(allGoroutines(), 0); r != "" {
		return r
	}
	return "(none of them is in the lesson's code; see goleak's report)"
}

// watch starts the watchdog: every half second it looks at the running tests,
// and if one has run longer than testLimit, it reports it and exits.
func watch() (stop func()) {
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		ticker := time.NewTicker(testLimit / 16)
		defer ticker.Stop()
		since := map[int]time.Time{} // test goroutine id → first seen
		for {
			select {
			case <-quit:
				return
			case now := <-ticker.C:
				gs := allGoroutines()
				seen := map[int]bool{}
				for _, g := range gs {
					name, ok := runningTest(g)
					if !ok {
						continue
					}
					seen[g.id] = true
					if _, ok := since[g.id]; !ok {
						since[g.id] = now
					} else if now.Sub(since[g.id]) > testLimit {
						hung(name, g, gs)
					}
				}
				for id := range since {
					if !seen[id] {
						delete(since, id)
					}
				}
			}
		}
	}()
	return func() { close(quit); <-done }
}

// runningTest reports whether g runs a test function (not one waiting for its
// subtests), and that test's top-level name.
func runningTest(g goroutine) (string, bool) {
	for i, f := range g.frames {
		if f.fn == "testing.(*T).Run" || strings.HasPrefix(f.fn, "testing.tRunner.func") {
			return "", false // waiting for subtests, or cleaning up
		}
		if f.fn == "testing.tRunner" && i > 0 {
			name := g.frames[i-1].fn
			name = name[strings.LastIndexByte(name, '/')+1:]
			if _, after, ok := strings.Cut(name, "."); ok {
				name, _, _ = strings.Cut(after, ".")
			}
			return name, strings.HasPrefix(name, "Test")
		}
	}
	return "", false
}

// hung reports a stuck test and ends the test binary: its goroutine cannot be
// stopped, so no later test could run anyway.
func hung(name string, g goroutine, gs []goroutine) {
	var b strings.Builder
	fmt.Fprintf(&b, "--- FAIL: %s (hung)\n", name)
	fmt.Fprintf(&b, "    %s has run for more than %v and is stuck: a correct answer takes milliseconds, so the test binary stops here.\n", name, testLimit)
	if r := stuckReport(gs, 0); r != "" {
		b.WriteString("    " + strings.ReplaceAll(r, "\n", "\n    ") + "\n")
	}
	for _, f := range g.frames {
		if strings.HasSuffix(f.file, "_test.go") {
			fmt.Fprintf(&b, "    The test waits at %s:%d.\n", f.file[strings.LastIndexByte(f.file, '/')+1:], f.line)
			break
		}
	}
	if meta, err := lessonMeta(); err == nil {
		if task, _, ok := meta.TaskOfTest(name); ok {
			fmt.Fprintf(&b, "    This test checks %s: re-read README.md, %q.\n", strings.SplitN(task.Title, ":", 2)[0], task.Title)
		}
	}
	b.WriteString("FAIL\n")
	os.Stdout.WriteString(b.String())
	os.Exit(1)
}
