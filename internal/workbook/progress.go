package workbook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/grpc-workbook/streaming/internal/gotest"
	"github.com/grpc-workbook/streaming/internal/lessons"
)

// runLesson runs one lesson's tests.
func (w *Workbook) runLesson(ctx context.Context, l lessons.Lesson) (LessonResult, error) {
	results, err := w.runLessons(ctx, []lessons.Lesson{l})
	if err != nil {
		return LessonResult{}, err
	}
	return results[0], nil
}

// testTimeout ends a test binary that runs longer: go test's default is ten
// minutes, far too long to stare at a silent terminal. The harness watchdog
// stops a stuck lesson test within seconds and says where it is stuck; this
// is the backstop for what it cannot catch (a test stuck before the watchdog
// starts, a lesson without harness.Main). Two minutes is well above the
// slowest lesson package, -race on a busy 2-core laptop included.
const testTimeout = "2m"

// runLessons runs the tests of the given lessons and sorts the results per
// lesson: one `go test` for the lessons whose README asks for -race, one
// for the others. There is no -count=1: go test's cache answers at once for
// a lesson whose files (and the files its tests read) are unchanged, so only
// the lesson being edited really runs.
func (w *Workbook) runLessons(ctx context.Context, ls []lessons.Lesson) ([]LessonResult, error) {
	before := map[string]string{} // taken first, so a save during the run is not taken as tested
	for _, l := range ls {
		before[l.ID] = w.fingerprint(l)
	}
	var reports [2]*gotest.Report // without -race, with
	for i, flags := range [][]string{{"-timeout=" + testTimeout}, {"-timeout=" + testTimeout, "-race"}} {
		var pkgs []string
		for _, l := range ls {
			if w.race(ctx, l) == (i == 1) {
				pkgs = append(pkgs, l.Package()+"/")
			}
		}
		if len(pkgs) == 0 {
			continue
		}
		if i == 1 && !w.loadState().RaceBuilt {
			w.note("Compiling with the race detector; the first time takes a minute.\n")
		}
		rep, err := gotest.Run(ctx, w.Root, append(flags, pkgs...)...)
		if err != nil {
			return nil, fmt.Errorf("running go test: %w", err)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		reports[i] = rep
	}
	results := make([]LessonResult, len(ls))
	for i, l := range ls {
		if w.race(ctx, l) {
			results[i] = collect(l, reports[1])
		} else {
			results[i] = collect(l, reports[0])
		}
	}
	if err := w.saveProgress(results, before, reports[1] != nil); err != nil {
		w.note("(could not save progress in %s: %v)\n", statePath, err)
	}
	return results, nil
}

// progress returns every lesson's result for the progress table, running
// only the tests whose answer can have changed, so that the runner answers
// about as fast as `go test` on the lesson being worked on. It runs every
// lesson up to the first not done (go test's cache answers at once for
// passing ones; failures are never cached) and any later lesson whose files
// changed since its last run. The other later lessons' counts come from
// .workbook/state.json.
func (w *Workbook) progress(ctx context.Context, all []lessons.Lesson) ([]LessonResult, error) {
	s := w.loadState()
	results := make([]LessonResult, len(all))
	var run []lessons.Lesson
	var at []int // where each lesson of run goes in results
	reached := false
	for i, l := range all {
		c, ok := s.Lessons[l.ID]
		if reached && ok && c.Fingerprint != "" && c.Fingerprint == w.fingerprint(l) {
			results[i] = LessonResult{Lesson: l, Passed: c.Passed, Total: c.Total, Done: c.Done, BuildFailed: c.BuildFailed, Remembered: true}
			continue
		}
		reached = reached || !ok || !c.Done
		run, at = append(run, l), append(at, i)
	}
	for len(run) > 0 {
		ran, err := w.runLessons(ctx, run)
		if err != nil {
			return nil, err
		}
		for j, r := range ran {
			results[at[j]] = r
		}
		// The lesson to show next may be a remembered one, when the lesson
		// before it has just been finished: run it for its details.
		run, at = nil, nil
		for i, r := range results {
			if !r.Done {
				if r.Remembered {
					run, at = []lessons.Lesson{r.Lesson}, []int{i}
				}
				break
			}
		}
	}
	return results, nil
}

// race reports whether lesson l runs with -race: its README asks for it
// (a concurrency lesson, where a data race must not pass for done) and this
// Go can build with it. -race needs cgo, and `go env CGO_ENABLED` says 0
// where no C compiler was found; the learner is told once.
func (w *Workbook) race(ctx context.Context, l lessons.Lesson) bool {
	if !l.Meta.Race {
		return false
	}
	if w.cgo == nil {
		out, err := exec.CommandContext(ctx, "go", "env", "CGO_ENABLED").Output()
		cgo := err == nil && strings.TrimSpace(string(out)) == "1"
		w.cgo = &cgo
	}
	if !*w.cgo && !w.raceWarned {
		w.raceWarned = true
		w.note("Lesson %s asks for go test -race, but the race detector needs cgo, which is off here (no C compiler?): its tests run without it, and data races cannot be caught here.\n", l.ID)
	}
	return *w.cgo
}

// note prints a remark about the run itself, except under verify --json,
// whose output must be only the JSON document.
func (w *Workbook) note(format string, args ...any) {
	if !w.quiet {
		fmt.Fprintf(w.Out, format, args...)
	}
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
	// RaceBuilt: a run with -race has been made, so the slow first compile
	// of the race detector's packages is in go's build cache.
	RaceBuilt bool `json:"race_built,omitempty"`
}

type cachedLesson struct {
	Fingerprint string `json:"fingerprint"`
	Passed      int    `json:"passed"`
	Total       int    `json:"total"`
	Done        bool   `json:"done"`
	BuildFailed bool   `json:"build_failed,omitempty"`
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

func (w *Workbook) saveProgress(results []LessonResult, fingerprints map[string]string, raced bool) error {
	s := w.loadState()
	s.RaceBuilt = s.RaceBuilt || raced
	for _, r := range results {
		s.Lessons[r.Lesson.ID] = cachedLesson{
			Fingerprint: fingerprints[r.Lesson.ID],
			Passed:      r.Passed, Total: r.Total, Done: r.Done, BuildFailed: r.BuildFailed, Task: r.CurrentTask(),
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
