package workbook

import (
	"fmt"
	"io"
	"strings"

	"github.com/grpc-workbook/streaming/internal/lessons"
)

// style wraps text in ANSI colours, or leaves it alone when colour is off.
type style bool

func (s style) wrap(code, text string) string {
	if !s || text == "" {
		return text
	}
	return "\x1b[" + code + "m" + text + "\x1b[0m"
}

func (s style) bold(t string) string  { return s.wrap("1", t) }
func (s style) dim(t string) string   { return s.wrap("2", t) }
func (s style) red(t string) string   { return s.wrap("31", t) }
func (s style) green(t string) string { return s.wrap("32", t) }
func (s style) cyan(t string) string  { return s.wrap("36", t) }

func (w *Workbook) style() style { return style(w.Color) }

// shortTitle is a lesson title for the progress table: the README title up
// to its first ": ", so "Unary calls: status codes and deadlines" fits a
// terminal line as "Unary calls".
func shortTitle(l lessons.Lesson) string {
	title, _, _ := strings.Cut(l.Meta.Title, ": ")
	return title
}

// printHint prints hint k of n. A one-line hint follows its label; a longer
// one (Markdown with paragraphs or code) starts on the next line, word for
// word as the README has it.
func (w *Workbook) printHint(out io.Writer, k, n int, text string) {
	label := w.style().cyan(fmt.Sprintf("Hint %d of %d:", k, n))
	if strings.Contains(text, "\n") {
		fmt.Fprintf(out, "%s\n%s\n", label, text)
		return
	}
	fmt.Fprintf(out, "%s %s\n", label, text)
}

// lessonArg is how a lesson is named on the command line in advice.
func lessonArg(l lessons.Lesson) string { return fmt.Sprintf("%02d", l.Number) }

// printTable prints one line per lesson: number, name, title, tests passing,
// and whether it is done. The first unfinished lesson is marked.
func (w *Workbook) printTable(out io.Writer, results []LessonResult) {
	st := w.style()
	nameWidth, titleWidth := len("Lesson"), len("Title")
	for _, r := range results {
		nameWidth = max(nameWidth, len(r.Lesson.ID))
		titleWidth = max(titleWidth, len(shortTitle(r.Lesson)))
	}
	fmt.Fprintf(out, "  %-*s  %-*s  %7s  %s\n", nameWidth, "Lesson", titleWidth, "Title", "Tests", "Status")
	marked := false
	for _, r := range results {
		count := fmt.Sprintf("%d/%d", r.Passed, r.Total)
		var status string
		switch {
		case r.Done:
			status = st.green("done")
		case !marked:
			status = st.bold("next") + " <-"
			marked = true
		default:
			status = st.dim("-")
		}
		if r.BuildFailed {
			status += st.red(" (does not compile)")
		}
		fmt.Fprintf(out, "  %-*s  %-*s  %7s  %s\n", nameWidth, r.Lesson.ID, titleWidth, shortTitle(r.Lesson), count, status)
	}
}

// printNext explains what to do next in one lesson: its first failing test
// with the test's output, its task, and one hint. It returns the hint number
// shown (0 if none).
func (w *Workbook) printNext(out io.Writer, r LessonResult, hint int) int {
	st := w.style()
	l := r.Lesson
	next, ok := r.Next()
	if !ok {
		if r.PackageFailed {
			fmt.Fprintf(out, "%s every test of lesson %s passes, but the package failed after them:\n\n", st.red("Almost:"), l.ID)
			fmt.Fprintln(out, indent(trimOutput(r.PackageOutput, 40), "    "))
			fmt.Fprintln(out, "A goroutine that outlives a test (a handler that never returns, a stream never read to its end) is the usual cause.")
		} else {
			fmt.Fprintf(out, "%s lesson %s is done.\n", st.green("Well done:"), l.ID)
		}
		return 0
	}
	task := l.Meta.Tasks[next.Task]
	fmt.Fprintf(out, "%s lesson %s, %s\n", st.bold("Next:"), l.ID, st.bold(task.Title))
	if r.BuildFailed {
		fmt.Fprintf(out, "\n%s\n\n", st.red("The lesson does not compile:"))
		fmt.Fprintln(out, indent(trimOutput(r.PackageOutput, 40), "    "))
	} else {
		fmt.Fprintf(out, "\n%s %s\n\n", st.red(strings.ToUpper(next.Outcome)), next.Name)
		fmt.Fprintln(out, indent(trimOutput(next.Output, 150), "    "))
	}
	shown := 0
	if len(task.Hints) > 0 {
		shown = max(1, min(hint, len(task.Hints)))
		fmt.Fprintln(out)
		w.printHint(out, shown, len(task.Hints), task.Hints[shown-1])
	}
	fmt.Fprintf(out, "\nRead lessons/%s/README.md, %q.\n", l.ID, task.Title)
	if shown < len(task.Hints) {
		fmt.Fprintf(out, "More hints: go run ./cmd/workbook hint %s\n", lessonArg(l))
	}
	return shown
}

// drawWatch redraws the screen with one lesson's result.
func (w *Workbook) drawWatch(r LessonResult, poll bool) {
	if w.Terminal {
		fmt.Fprint(w.Out, "\x1b[H\x1b[2J")
	}
	st := w.style()
	fmt.Fprintf(w.Out, "%s  %s  %d/%d tests pass\n\n", st.bold("Lesson "+r.Lesson.ID), r.Lesson.Meta.Title, r.Passed, r.Total)
	for _, t := range r.Tests {
		mark := st.green("ok     ")
		if t.Outcome != "pass" {
			mark = st.red(fmt.Sprintf("%-7s", strings.ToUpper(t.Outcome)))
		}
		fmt.Fprintf(w.Out, "  %s %s\n", mark, t.Name)
	}
	fmt.Fprintln(w.Out)
	hint := 1
	if next, ok := r.Next(); ok {
		hint = max(1, w.hintsShown(r.Lesson, r.Lesson.Meta.Tasks[next.Task]))
	}
	w.printNext(w.Out, r, hint)
	how := "saved"
	if poll {
		how = "saved (polling)"
	}
	fmt.Fprintf(w.Out, "\n%s\n", st.dim(fmt.Sprintf("Watching lessons/%s for files being %s. Ctrl-C stops.", r.Lesson.ID, how)))
}

// trimOutput keeps what teaches in a test's output: the go test framing
// lines go, and long output is cut to max lines.
func trimOutput(out string, maxLines int) string {
	var keep []string
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "=== RUN"), strings.HasPrefix(trimmed, "=== PAUSE"),
			strings.HasPrefix(trimmed, "=== CONT"), strings.HasPrefix(trimmed, "=== NAME"),
			strings.HasPrefix(trimmed, "--- PASS"), strings.HasPrefix(trimmed, "--- SKIP"),
			strings.HasPrefix(line, "--- FAIL: "): // the top-level test's own line: the runner says FAIL already
			continue
		}
		keep = append(keep, line)
	}
	keep = dedent(keep)
	if len(keep) > maxLines {
		more := len(keep) - maxLines
		keep = append(keep[:maxLines], fmt.Sprintf("... (%d more lines)", more))
	}
	return strings.Join(keep, "\n")
}

func indent(text, prefix string) string {
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "\n")
}

// dedent removes the indentation all non-empty lines share.
func dedent(lines []string) []string {
	common := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, " \t"))
		if common < 0 || n < common {
			common = n
		}
	}
	if common <= 0 {
		return lines
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		if len(l) >= common {
			out[i] = l[common:]
		} else {
			out[i] = strings.TrimLeft(l, " \t")
		}
	}
	return out
}
