package workbook

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/grpc-workbook/streaming/internal/gotest"
	"github.com/grpc-workbook/streaming/internal/lessons"
)

// LessonResult is what one run of a lesson's tests said.
type LessonResult struct {
	Lesson lessons.Lesson
	Tests  []TestResult // the tests the README lists, in task order
	Passed int          // how many of Tests passed
	Total  int          // len(Tests)
	// Done: every test passed and the package itself did not fail (a
	// goroutine leak reported by goleak fails the package after the tests).
	Done bool
	// PackageFailed and PackageOutput tell about failures outside a test:
	// a build error, a panic, a leak.
	PackageFailed bool
	BuildFailed   bool
	PackageOutput string
	// Remembered: the counts are the lesson's last run's, from the state
	// file, because its files have not changed since; Tests is empty.
	Remembered bool
}

// TestResult is one top-level test of a lesson.
type TestResult struct {
	Name string
	Task int // index into Lesson.Meta.Tasks
	// Outcome is "pass", "fail" or "skip" as go test says; "hung" or
	// "crashed" when the test binary stopped while this test ran, so it has
	// no result of its own; "not run" when it never started.
	Outcome string
	Output  string // what it and its subtests printed, or why it has no result
}

// Next returns the first test that does not pass, in task order.
func (r LessonResult) Next() (TestResult, bool) {
	for _, t := range r.Tests {
		if t.Outcome != "pass" {
			return t, true
		}
	}
	return TestResult{}, false
}

// CurrentTask is the index of the task the learner is on: the task of the
// first test that does not pass, or -1 when there is none.
func (r LessonResult) CurrentTask() int {
	if t, ok := r.Next(); ok {
		return t.Task
	}
	return -1
}

// firstNotDone returns the result of the first lesson that is not done.
func firstNotDone(results []LessonResult) (LessonResult, bool) {
	for _, r := range results {
		if !r.Done {
			return r, true
		}
	}
	return LessonResult{}, false
}

// belongs reports whether a package import path is lesson l's.
func belongs(pkg string, l lessons.Lesson) bool {
	return strings.HasSuffix(pkg, "/lessons/"+l.ID)
}

// collect picks lesson l's results out of a report.
func collect(l lessons.Lesson, rep *gotest.Report) LessonResult {
	r := LessonResult{Lesson: l}
	for path, p := range rep.Packages {
		if belongs(path, l) {
			r.PackageFailed = r.PackageFailed || p.Failed
			r.BuildFailed = r.BuildFailed || p.BuildFailed
			r.PackageOutput += p.Output
		}
	}
	outcome := map[string]string{}
	output := map[string]*strings.Builder{}
	gather := func(res gotest.Result) string {
		top, _, _ := strings.Cut(res.Name, "/")
		if output[top] == nil {
			output[top] = &strings.Builder{}
		}
		output[top].WriteString(res.Output)
		return top
	}
	last := "" // the last top-level test to finish
	for _, res := range rep.Tests {
		if !belongs(res.Package, l) {
			continue
		}
		top := gather(res)
		if res.Top() && outcome[top] != "fail" {
			outcome[top], last = res.Outcome, top
		}
	}
	// The test binary exits under a test that hangs past a time limit or
	// crashes another goroutine: go test then reports no result for it. A
	// test that panics on its own goroutine does get a fail event, and is the
	// last to finish.
	stopped := ""
	for _, res := range rep.Unfinished {
		if belongs(res.Package, l) {
			stopped = gather(res)
			outcome[stopped] = stopKind(output[stopped].String())
		}
	}
	if stopped == "" && outcome[last] == "fail" && panicLine.MatchString(output[last].String()) {
		stopped, outcome[last] = last, "crashed"
	}
	for i, task := range l.Meta.Tasks {
		for _, name := range task.Tests {
			t := TestResult{Name: name, Task: i, Outcome: outcome[name]}
			if b := output[name]; b != nil {
				t.Output = b.String()
			}
			switch t.Outcome {
			case "pass":
				r.Passed++
			case "hung", "crashed":
				t.Output = stoppedReport(name, t.Outcome, t.Output+r.PackageOutput)
			case "":
				t.Outcome, t.Output = "not run", "This test did not run: "+didNotRun(r, stopped, outcome[stopped])
			}
			r.Tests = append(r.Tests, t)
		}
	}
	r.Total = len(r.Tests)
	r.Done = r.Total > 0 && r.Passed == r.Total && !r.PackageFailed
	return r
}

var (
	// panicLine is the runtime's first line of a panic: at the start of a
	// line, where no test's own log line is (t.Log indents).
	panicLine = regexp.MustCompile(`(?m)^panic: `)
	// hungLine is go test's -timeout panic, or the harness watchdog's line.
	hungLine = regexp.MustCompile(`(?m)^(panic: test timed out after|--- FAIL: \S+ \(hung\))`)
)

// stopKind tells a hung test from a crashed one by what the binary printed
// as it stopped: go test's -timeout panic, or the harness watchdog's line
// "--- FAIL: TestX (hung)".
func stopKind(output string) string {
	if hungLine.MatchString(output) {
		return "hung"
	}
	return "crashed"
}

// stoppedReport explains a test with no result of its own, and quotes the
// end of the output, where the harness prints its diagnosis and a panic its
// message.
func stoppedReport(name, kind, output string) string {
	why := "it ran past its time limit, so the test binary was stopped"
	if kind == "crashed" {
		why = "the test binary exited while it ran (a panic, or os.Exit)"
	}
	return fmt.Sprintf("%s %s: %s. The last lines it printed:\n\n%s", name, kind, why, lastLines(output, 30))
}

// didNotRun says why a test never started.
func didNotRun(r LessonResult, stopped, kind string) string {
	switch {
	case r.BuildFailed:
		return "the lesson does not compile (see the build errors above)."
	case stopped != "":
		return fmt.Sprintf("it did not run because %s %s and took the test binary with it. Fix %s first.", stopped, kind, stopped)
	}
	return "the test binary stopped before it started. The last lines it printed:\n\n" + lastLines(r.PackageOutput, 30)
}

// lastLines returns the last n lines of text.
func lastLines(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d lines before)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
