package workbook

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/grpc-workbook/streaming/internal/lessons"
)

// status is the command without arguments: the progress table, then what to
// do next.
func (w *Workbook) status(ctx context.Context) error {
	all, err := w.discover()
	if err != nil {
		return err
	}
	fmt.Fprintln(w.Out, "Running the tests...")
	results, err := w.progress(ctx, all)
	if err != nil {
		return err
	}
	fmt.Fprintln(w.Out)
	w.printTable(w.Out, results)
	fmt.Fprintln(w.Out)
	if r, ok := firstNotDone(results); ok {
		shown := w.printNext(w.Out, r, 1)
		if next, ok := r.Next(); ok && shown > 0 {
			w.noteHint(r.Lesson, r.Lesson.Meta.Tasks[next.Task], shown)
		}
		fmt.Fprintln(w.Out, "Re-run on every save: go run ./cmd/workbook watch")
		return nil
	}
	fmt.Fprintln(w.Out, w.style().green("Every lesson is done. Well done!"))
	return nil
}

// noteHint remembers that hints up to n of task were shown for lesson l.
func (w *Workbook) noteHint(l lessons.Lesson, task lessons.Task, n int) {
	s := w.loadState()
	h := s.Hints[l.ID]
	if h.Task != task.Title {
		h = hintsShown{Task: task.Title}
	}
	h.Shown = max(h.Shown, n)
	s.Hints[l.ID] = h
	_ = w.saveState(s)
}

// hintsShown is how many hints of task the learner has seen in lesson l.
func (w *Workbook) hintsShown(l lessons.Lesson, task lessons.Task) int {
	if h := w.loadState().Hints[l.ID]; h.Task == task.Title {
		return h.Shown
	}
	return 0
}

// hintCmd is `hint LESSON [N]`.
func (w *Workbook) hintCmd(ctx context.Context, args []string) error {
	p, err := parseArgs("hint", args, nil, nil)
	if err != nil {
		return err
	}
	if len(p.args) < 1 || len(p.args) > 2 {
		return usagef("usage: go run ./cmd/workbook hint LESSON [N], for example `hint 1` or `hint unary 2`")
	}
	l, _, err := w.find(p.args[0])
	if err != nil {
		return err
	}
	exact := 0
	if len(p.args) == 2 {
		exact, err = strconv.Atoi(p.args[1])
		if err != nil || exact < 1 {
			return usagef("hint: N must be a hint number (1, 2, ...), got %q", p.args[1])
		}
	}
	c, err := w.cached(ctx, l)
	if err != nil {
		return err
	}
	if c.Task < 0 || c.Task >= len(l.Meta.Tasks) {
		if c.Done {
			fmt.Fprintf(w.Out, "Lesson %s is done: every test passes. No hints needed.\n", l.ID)
		} else {
			fmt.Fprintf(w.Out, "Every test of lesson %s passes, but the package fails after them (often a leaked goroutine). Run `go run ./cmd/workbook` to see the report.\n", l.ID)
		}
		return nil
	}
	task := l.Meta.Tasks[c.Task]
	if len(task.Hints) == 0 {
		fmt.Fprintf(w.Out, "%s has no hints; read lessons/%s/README.md, %q.\n", task.Title, l.ID, task.Title)
		return nil
	}
	st := w.style()
	n := len(task.Hints)
	fmt.Fprintf(w.Out, "Lesson %s, %s\n\n", l.ID, st.bold(task.Title))
	if exact > 0 {
		if exact > n {
			return usagef("hint: %s has %d hints, not %d", task.Title, n, exact)
		}
		w.printHint(w.Out, exact, n, task.Hints[exact-1])
		w.noteHint(l, task, exact)
		return nil
	}
	upto := min(w.hintsShown(l, task)+1, n)
	for i := 0; i < upto; i++ {
		w.printHint(w.Out, i+1, n, task.Hints[i])
	}
	w.noteHint(l, task, upto)
	if upto < n {
		fmt.Fprintf(w.Out, "\nRun the same command again for the next hint.\n")
	} else {
		fmt.Fprintf(w.Out, "\nThat was the last hint. The README section %q explains the task in full;\n`go run ./cmd/workbook solution %s` shows the answer.\n", task.Title, lessonArg(l))
	}
	return nil
}

// resetCmd is `reset LESSON` and `reset --all`.
func (w *Workbook) resetCmd(args []string) error {
	p, err := parseArgs("reset", args, []string{"yes", "all"}, nil)
	if err != nil {
		return err
	}
	var targets []lessons.Lesson
	switch {
	case p.bools["all"] && len(p.args) == 0:
		if targets, err = w.discover(); err != nil {
			return err
		}
	case !p.bools["all"] && len(p.args) == 1:
		l, _, err := w.find(p.args[0])
		if err != nil {
			return err
		}
		targets = []lessons.Lesson{l}
	default:
		return usagef("usage: go run ./cmd/workbook reset LESSON [--yes], or reset --all [--yes]")
	}
	plan := map[string][]string{} // lesson ID -> stub file names
	var files []string
	for _, l := range targets {
		entries, err := fs.ReadDir(w.Stubs, l.ID)
		if err != nil || len(entries) == 0 {
			return fmt.Errorf("this build of the workbook has no shipped copy of lesson %s's files (run `go generate ./...` if you are its author)", l.ID)
		}
		for _, e := range entries {
			plan[l.ID] = append(plan[l.ID], e.Name())
			files = append(files, path.Join("lessons", l.ID, e.Name()))
		}
	}
	if !p.bools["yes"] {
		fmt.Fprintf(w.Out, "This puts back the files as shipped, and your changes to them are lost:\n  %s\n", strings.Join(files, "\n  "))
		if !w.confirm("Reset?") {
			fmt.Fprintln(w.Out, "Nothing changed.")
			return nil
		}
	}
	s := w.loadState()
	for _, l := range targets {
		for _, name := range plan[l.ID] {
			data, err := fs.ReadFile(w.Stubs, path.Join(l.ID, name))
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(w.Root, l.Dir(), name), data, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(w.Out, "restored lessons/%s/%s\n", l.ID, name)
		}
		delete(s.Hints, l.ID)
		delete(s.Lessons, l.ID)
	}
	return w.saveState(s)
}

// solutionCmd is `solution LESSON`: a diff from the learner's files to the
// solution's.
func (w *Workbook) solutionCmd(ctx context.Context, args []string) error {
	p, err := parseArgs("solution", args, []string{"yes"}, nil)
	if err != nil {
		return err
	}
	if len(p.args) != 1 {
		return usagef("usage: go run ./cmd/workbook solution LESSON [--yes]")
	}
	l, _, err := w.find(p.args[0])
	if err != nil {
		return err
	}
	names, err := l.StubFiles(w.Root)
	if err != nil {
		return err
	}
	if !p.bools["yes"] {
		c, err := w.cached(ctx, l)
		if err != nil {
			return err
		}
		if !c.Done {
			fmt.Fprintf(w.Out, "Lesson %s is not done yet: %d of %d tests pass. The hints (`go run ./cmd/workbook hint %s`) may be enough.\n",
				l.ID, c.Passed, c.Total, lessonArg(l))
			if !w.confirm("Show the solution anyway?") {
				fmt.Fprintln(w.Out, "Nothing shown.")
				return nil
			}
		}
	}
	st := w.style()
	for _, name := range names {
		mine := path.Join("lessons", l.ID, name)
		theirs := path.Join("solutions", l.ID, name)
		a, errA := os.ReadFile(filepath.Join(w.Root, filepath.FromSlash(mine)))
		b, errB := os.ReadFile(filepath.Join(w.Root, filepath.FromSlash(theirs)))
		if errB != nil {
			return errB
		}
		if errA != nil {
			fmt.Fprintf(w.Out, "%s is missing; `go run ./cmd/workbook reset %s` puts it back.\n", mine, lessonArg(l))
			continue
		}
		d := unifiedDiff(mine+" (yours)", theirs+" (solution)", string(a), string(b))
		if d == "" {
			fmt.Fprintf(w.Out, "%s is the same as %s.\n", mine, theirs)
			continue
		}
		for _, line := range strings.SplitAfter(d, "\n") {
			switch {
			case strings.HasPrefix(line, "+++"), strings.HasPrefix(line, "---"):
				line = st.bold(strings.TrimSuffix(line, "\n")) + "\n"
			case strings.HasPrefix(line, "+"):
				line = st.green(strings.TrimSuffix(line, "\n")) + "\n"
			case strings.HasPrefix(line, "-"):
				line = st.red(strings.TrimSuffix(line, "\n")) + "\n"
			case strings.HasPrefix(line, "@@"):
				line = st.cyan(strings.TrimSuffix(line, "\n")) + "\n"
			}
			fmt.Fprint(w.Out, line)
		}
		fmt.Fprintln(w.Out)
	}
	return nil
}

// VerifyResult is what `verify --json` prints.
type VerifyResult struct {
	Lessons []VerifyLesson `json:"lessons"`
	Passed  int            `json:"passed"` // tests passing, over all lessons
	Total   int            `json:"total"`
	Done    bool           `json:"done"` // every lesson is done
}

// VerifyLesson is one lesson in VerifyResult.
type VerifyLesson struct {
	ID     string       `json:"id"`
	Number int          `json:"number"`
	Title  string       `json:"title"`
	Done   bool         `json:"done"`
	Passed int          `json:"passed"`
	Total  int          `json:"total"`
	Error  string       `json:"error,omitempty"` // a failure outside the tests: build error, leak
	Tests  []VerifyTest `json:"tests"`
}

// VerifyTest is one test in VerifyLesson.
type VerifyTest struct {
	Name    string `json:"name"`
	Task    string `json:"task"`
	Outcome string `json:"outcome"` // "pass", "fail" or "skip"
}

// verifyCmd is `verify [--json]`.
func (w *Workbook) verifyCmd(ctx context.Context, args []string) error {
	p, err := parseArgs("verify", args, []string{"json"}, nil)
	if err != nil {
		return err
	}
	if len(p.args) > 0 {
		return usagef("usage: go run ./cmd/workbook verify [--json]")
	}
	all, err := w.discover()
	if err != nil {
		return err
	}
	w.quiet = p.bools["json"]
	w.note("Running the tests of every lesson...\n")
	results, err := w.runLessons(ctx, all)
	if err != nil {
		return err
	}
	v := VerifyResult{Done: true}
	for _, r := range results {
		vl := VerifyLesson{ID: r.Lesson.ID, Number: r.Lesson.Number, Title: r.Lesson.Meta.Title,
			Done: r.Done, Passed: r.Passed, Total: r.Total, Tests: []VerifyTest{}}
		if r.PackageFailed && (r.BuildFailed || r.Passed == r.Total) {
			vl.Error = strings.TrimSpace(r.PackageOutput)
		}
		for _, t := range r.Tests {
			vl.Tests = append(vl.Tests, VerifyTest{Name: t.Name, Task: r.Lesson.Meta.Tasks[t.Task].Title, Outcome: t.Outcome})
		}
		v.Lessons = append(v.Lessons, vl)
		v.Passed += r.Passed
		v.Total += r.Total
		v.Done = v.Done && r.Done
	}
	if p.bools["json"] {
		enc := json.NewEncoder(w.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			return err
		}
	} else {
		st := w.style()
		fmt.Fprintln(w.Out)
		w.printTable(w.Out, results)
		for _, r := range results {
			if r.BuildFailed {
				fmt.Fprintf(w.Out, "\n%s does not compile:\n%s\n", r.Lesson.ID, indent(trimOutput(r.PackageOutput, 20), "    "))
				continue
			}
			for _, t := range r.Tests {
				if t.Outcome != "pass" {
					fmt.Fprintf(w.Out, "  %s %s/%s (%s)\n", st.red(strings.ToUpper(t.Outcome)), r.Lesson.ID, t.Name, r.Lesson.Meta.Tasks[t.Task].Title)
				}
			}
		}
		fmt.Fprintf(w.Out, "\n%d of %d tests pass.\n", v.Passed, v.Total)
	}
	if !v.Done {
		return ErrNotDone
	}
	return nil
}
