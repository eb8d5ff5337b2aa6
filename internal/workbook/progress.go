package workbook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
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
}

// TestResult is one top-level test of a lesson.
type TestResult struct {
	Name    string
	Task    int    // index into Lesson.Meta.Tasks
	Outcome string // pass, fail, skip; "fail" also when it never ran
	Output  string // what it and its subtests printed
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

// runLesson runs one lesson's tests.
func (w *Workbook) runLesson(ctx context.Context, l lessons.Lesson) (LessonResult, error) {
	results, err := w.runLessons(ctx, []lessons.Lesson{l})
	if err != nil {
		return LessonResult{}, err
	}
	return results[0], nil
}

// runLessons runs the tests of the given lessons in one `go test` and sorts
// the results per lesson.
func (w *Workbook) runLessons(ctx context.Context, ls []lessons.Lesson) ([]LessonResult, error) {
	args := []string{"-count=1"}
	for _, l := range ls {
		args = append(args, l.Package()+"/")
	}
	rep, err := gotest.Run(ctx, w.Root, args...)
	if err != nil {
		return nil, fmt.Errorf("running go test: %w", err)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	results := make([]LessonResult, len(ls))
	for i, l := range ls {
		results[i] = collect(l, rep)
	}
	if err := w.saveProgress(results); err != nil {
		fmt.Fprintf(w.Out, "(could not save progress in %s: %v)\n", statePath, err)
	}
	return results, nil
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
	for _, res := range rep.Tests {
		if !belongs(res.Package, l) {
			continue
		}
		top, _, _ := strings.Cut(res.Name, "/")
		if res.Top() {
			if prev := outcome[top]; prev != "fail" {
				outcome[top] = res.Outcome
			}
		}
		b := output[top]
		if b == nil {
			b = &strings.Builder{}
			output[top] = b
		}
		b.WriteString(res.Output)
	}
	for i, task := range l.Meta.Tasks {
		for _, name := range task.Tests {
			t := TestResult{Name: name, Task: i, Outcome: outcome[name]}
			if b := output[name]; b != nil {
				t.Output = b.String()
			}
			if t.Outcome == "" {
				t.Outcome = "fail"
				if t.Output == "" {
					t.Output = "this test did not run: " + didNotRun(r)
				}
			}
			if t.Outcome == "pass" {
				r.Passed++
			}
			r.Tests = append(r.Tests, t)
		}
	}
	r.Total = len(r.Tests)
	r.Done = r.Total > 0 && r.Passed == r.Total && !r.PackageFailed
	return r
}

func didNotRun(r LessonResult) string {
	if r.BuildFailed {
		return "the lesson does not compile (see the build errors above)"
	}
	return "an earlier test panicked or the package failed to start"
}

// --- the state file -------------------------------------------------------

// statePath is the runner's cache, relative to the root; .gitignore lists it.
const statePath = ".workbook/state.json"

type state struct {
	// Lessons caches each lesson's last result, keyed by lesson ID, with a
	// fingerprint of the lesson's files: while they are unchanged, hint and
	// solution need not run the tests again.
	Lessons map[string]cachedLesson `json:"lessons"`
	// Hints counts the hints shown, per lesson, for its current task.
	Hints map[string]hintsShown `json:"hints"`
}

type cachedLesson struct {
	Fingerprint string `json:"fingerprint"`
	Passed      int    `json:"passed"`
	Total       int    `json:"total"`
	Done        bool   `json:"done"`
	Task        int    `json:"task"` // the current task's index, -1 when done
}

type hintsShown struct {
	Task  string `json:"task"` // the title of the task the hints belong to
	Shown int    `json:"shown"`
}

func (w *Workbook) loadState() state {
	s := state{}
	if data, err := os.ReadFile(filepath.Join(w.Root, statePath)); err == nil {
		_ = json.Unmarshal(data, &s) // a damaged cache is an empty one
	}
	if s.Lessons == nil {
		s.Lessons = map[string]cachedLesson{}
	}
	if s.Hints == nil {
		s.Hints = map[string]hintsShown{}
	}
	return s
}

func (w *Workbook) saveState(s state) error {
	path := filepath.Join(w.Root, statePath)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

func (w *Workbook) saveProgress(results []LessonResult) error {
	s := w.loadState()
	for _, r := range results {
		s.Lessons[r.Lesson.ID] = cachedLesson{
			Fingerprint: w.fingerprint(r.Lesson),
			Passed:      r.Passed, Total: r.Total, Done: r.Done, Task: r.CurrentTask(),
		}
	}
	return w.saveState(s)
}

// fingerprint hashes the files of a lesson's folder (not its sub-packages)
// that can change a test result, so that a cached result is used only while
// they are unchanged, and `watch --poll` sees a save.
func (w *Workbook) fingerprint(l lessons.Lesson) string {
	dir := filepath.Join(w.Root, l.Dir())
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && relevant(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	h := sha256.New()
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return ""
		}
		fmt.Fprintf(h, "%s %d\n", name, len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// relevant reports whether a changed file can change the test result:
// editors also write swap and backup files.
func relevant(name string) bool {
	base := filepath.Base(name)
	if strings.HasPrefix(base, ".") || strings.HasPrefix(base, "#") {
		return false
	}
	switch filepath.Ext(base) {
	case ".go", ".proto", ".md", ".json", ".mod", ".sum":
		return true
	}
	return false
}

// cached returns the lesson's last result if its files have not changed
// since, and otherwise runs its tests.
func (w *Workbook) cached(ctx context.Context, l lessons.Lesson) (cachedLesson, error) {
	if c, ok := w.loadState().Lessons[l.ID]; ok && c.Fingerprint != "" && c.Fingerprint == w.fingerprint(l) {
		return c, nil
	}
	fmt.Fprintf(w.Out, "Running the tests of lesson %s...\n", l.ID)
	r, err := w.runLesson(ctx, l)
	if err != nil {
		return cachedLesson{}, err
	}
	return cachedLesson{Passed: r.Passed, Total: r.Total, Done: r.Done, Task: r.CurrentTask()}, nil
}
