package workbook

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/grpc-workbook/streaming/internal/lessons"
)

// status is the command without arguments: the progress table, then what to
// do next. With a lesson (`status 7`, or just `7`), what to do next in that
// lesson, for a learner who works out of order.
func (w *Workbook) status(ctx context.Context, lesson string) error {
	all, err := w.discover()
	if err != nil {
		return err
	}
	var only *lessons.Lesson
	if lesson != "" {
		l, err := lessons.Find(all, lesson)
		if err != nil {
			return &UsageError{Msg: err.Error()}
		}
		only = &l
	}
	fmt.Fprintln(w.Out, "Running the tests...")
	results, err := w.progress(ctx, all)
	if err != nil {
		return err
	}
	fmt.Fprintln(w.Out)
	w.printTable(w.Out, results)
	fmt.Fprintln(w.Out)
	r, ok := firstNotDone(results)
	if only != nil {
		if r, err = w.resultOf(ctx, results, *only); err != nil {
			return err
		}
		ok = true // printNext says "done" itself
	}
	if ok {
		shown := w.printNext(w.Out, r, 1)
		if next, ok := r.Next(); ok && shown > 0 {
			w.noteHint(r.Lesson, r.Lesson.Meta.Tasks[next.Task], shown)
		}
		watch := "go run ./cmd/workbook watch"
		if only != nil {
			watch += " " + lessonArg(r.Lesson)
		}
		fmt.Fprintln(w.Out, "Re-run on every save:", watch)
		return nil
	}
	fmt.Fprintln(w.Out, w.style().green("Every lesson is done. Well done!"))
	return nil
}

// resultOf is lesson l's result with its failures, running its tests if the
// progress table only remembered its counts.
func (w *Workbook) resultOf(ctx context.Context, results []LessonResult, l lessons.Lesson) (LessonResult, error) {
	for _, r := range results {
		if r.Lesson.ID == l.ID && !r.Remembered {
			return r, nil
		}
	}
	return w.runLesson(ctx, l)
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

// hintCmd is `hint LESSON [N] [--task T]`: the hints of the task the
// learner is on, one more each time, or hint N. It works at any time: once
// the lesson is done, or with --task, for any task.
func (w *Workbook) hintCmd(ctx context.Context, args []string) error {
	p, err := parseArgs("hint", args, nil, []string{"task"})
	if err != nil {
		return err
	}
	if len(p.args) < 1 || len(p.args) > 2 {
		return usagef("usage: go run ./cmd/workbook hint LESSON [N] [--task T], for example `hint 1` or `hint unary 2`")
	}
	l, _, err := w.find(p.args[0])
	if err != nil {
		return err
	}
	exact := 0
	if len(p.args) == 2 {
		if exact, err = strconv.Atoi(p.args[1]); err != nil || exact < 1 {
			return usagef("hint: N must be a hint number (1, 2, ...), got %q", p.args[1])
		}
	}
	ti, current, err := w.hintTask(ctx, l, p.values)
	if err != nil || ti < 0 {
		return err
	}
	task := l.Meta.Tasks[ti]
	n := len(task.Hints)
	if n == 0 {
		fmt.Fprintf(w.Out, "%s has no hints; read lessons/%s/README.md, %q.\n", task.Title, l.ID, task.Title)
		return nil
	}
	if exact > n {
		return usagef("hint: %s has %s, not %d", task.Title, plural(n, "hint"), exact)
	}
	fmt.Fprintf(w.Out, "Lesson %s, %s\n\n", l.ID, w.style().bold(task.Title))
	if exact > 0 || !current {
		from, upto := 1, n // a task not being worked on: all its hints at once
		if exact > 0 {
			from, upto = exact, exact
		}
		for k := from; k <= upto; k++ {
			w.printHint(w.Out, k, n, task.Hints[k-1])
		}
		if current {
			w.noteHint(l, task, exact)
		}
		return nil
	}
	upto := min(w.hintsShown(l, task)+1, n)
	for k := 1; k <= upto; k++ {
		w.printHint(w.Out, k, n, task.Hints[k-1])
	}
	w.noteHint(l, task, upto)
	if upto < n {
		fmt.Fprintf(w.Out, "\nRun the same command again for the next hint.\n")
	} else {
		fmt.Fprintf(w.Out, "\nThat was the last hint. The README section %q explains the task in full;\n`go run ./cmd/workbook solution %s` shows the answer.\n", task.Title, lessonArg(l))
	}
	return nil
}

// hintTask returns the index of the task whose hints to show, and whether it
// is the task the learner is on (whose hints are counted as seen): the task
// --task names, or else the current task, or else, when the lesson is done,
// its last. It returns -1 when there is nothing to show.
func (w *Workbook) hintTask(ctx context.Context, l lessons.Lesson, values map[string]string) (int, bool, error) {
	if v, ok := values["task"]; ok {
		t, err := strconv.Atoi(v)
		if err != nil || t < 1 || t > len(l.Meta.Tasks) {
			return -1, false, usagef("hint: --task wants a task number of lesson %s, 1 to %d, got %q", l.ID, len(l.Meta.Tasks), v)
		}
		return t - 1, false, nil
	}
	c, err := w.cached(ctx, l)
	if err != nil {
		return -1, false, err
	}
	if c.Task >= 0 && c.Task < len(l.Meta.Tasks) {
		return c.Task, true, nil
	}
	if len(l.Meta.Tasks) == 0 {
		return -1, false, nil
	}
	if c.Done {
		fmt.Fprintf(w.Out, "Lesson %s is done: every test passes. Here are the hints of its last task; `--task T` shows task T's.\n\n", l.ID)
	} else {
		fmt.Fprintf(w.Out, "Every test of lesson %s passes, but the package fails after them (often a leaked goroutine); `go run ./cmd/workbook` shows the report.\nHere are the hints of its last task; `--task T` shows task T's.\n\n", l.ID)
	}
	return len(l.Meta.Tasks) - 1, false, nil
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

// plural is "1 hint", "2 hints".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
