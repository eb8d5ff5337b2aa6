package workbook

import (
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/grpc-workbook/streaming/internal/lessons"
)

// Results is what `verify --json` prints: the results.json of Exercism's
// test runner interface, version 3
// (https://exercism.org/docs/building/tooling/test-runners/interface), a
// shape autograders already read.
type Results struct {
	Version int    `json:"version"` // always 3: tests are linked to tasks
	Status  string `json:"status"`  // "pass", "fail", or "error" when no test ran at all
	// Message says why no test ran; the interface wants it with status
	// "error" and only then.
	Message string       `json:"message,omitempty"`
	Tests   []ResultTest `json:"tests"`
	// Lessons is the workbook's own summary, one entry per lesson. The
	// interface has no such field, and readers of results.json ignore the
	// fields they do not know.
	Lessons []LessonSummary `json:"lessons"`
}

// ResultTest is one test in Results, in the order the lesson READMEs list
// them.
type ResultTest struct {
	Name    string `json:"name"`   // "01-unary/TestUnary_DialInMemory_ReachesServer"
	Status  string `json:"status"` // "pass", "fail", or "error": it hung, crashed or never ran
	Message string `json:"message,omitempty"`
	// Output is what the test printed, at most outputLimit characters.
	Output   string `json:"output,omitempty"`
	TestCode string `json:"test_code,omitempty"` // the test function's body
	TaskID   int    `json:"task_id,omitempty"`   // the README's task number, from 1
}

// LessonSummary is one lesson in Results.
type LessonSummary struct {
	ID     string `json:"id"`
	Title  string `json:"title"`
	Done   bool   `json:"done"`
	Passed int    `json:"passed"`
	Total  int    `json:"total"`
}

// outputLimit is the interface's cap on a test's output, in characters,
// and truncatedNote the interface's words for a cut one.
const (
	outputLimit   = 500
	truncatedNote = "\n... Output was truncated. Please limit to 500 chars."
)

// verifyCmd is `verify [LESSON] [--json]`. It exits 0 only when every lesson
// it ran is done, so that a grader that looks only at the exit code (GitHub
// Classroom's command grader) can score each lesson with `verify NN`.
func (w *Workbook) verifyCmd(ctx context.Context, args []string) error {
	p, err := parseArgs("verify", args, []string{"json"}, nil)
	if err != nil {
		return err
	}
	var targets []lessons.Lesson
	switch len(p.args) {
	case 0:
		targets, err = w.discover()
	case 1:
		var l lessons.Lesson
		l, _, err = w.find(p.args[0])
		targets = []lessons.Lesson{l}
	default:
		return usagef("usage: go run ./cmd/workbook verify [LESSON] [--json]")
	}
	if err != nil {
		return err
	}
	w.quiet = p.bools["json"]
	w.note("Running the tests...\n")
	results, err := w.runLessons(ctx, targets)
	if err != nil {
		return err
	}
	if p.bools["json"] {
		enc := json.NewEncoder(w.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(w.results(results)); err != nil {
			return err
		}
	} else {
		w.printVerify(results)
	}
	if _, notDone := firstNotDone(results); notDone {
		return ErrNotDone
	}
	return nil
}

// printVerify prints the progress table and every test still failing.
func (w *Workbook) printVerify(results []LessonResult) {
	st := w.style()
	fmt.Fprintln(w.Out)
	w.printTable(w.Out, results)
	passed, total := 0, 0
	for _, r := range results {
		passed, total = passed+r.Passed, total+r.Total
		if r.BuildFailed {
			fmt.Fprintf(w.Out, "\n%s does not compile:\n%s\n", r.Lesson.ID, indent(trimOutput(r.PackageOutput, 20), "    "))
			continue
		}
		for _, t := range r.Tests {
			if t.Outcome != "pass" {
				fmt.Fprintf(w.Out, "  %s %s/%s (%s)\n", st.red(strings.ToUpper(t.Outcome)), r.Lesson.ID, t.Name, r.Lesson.Meta.Tasks[t.Task].Title)
			}
		}
		if r.PackageFailed && r.Passed == r.Total {
			fmt.Fprintf(w.Out, "  %s %s: every test passes, but the package fails after them (`go run ./cmd/workbook` shows why)\n", st.red("FAIL"), r.Lesson.ID)
		}
	}
	fmt.Fprintf(w.Out, "\n%d of %d tests pass.\n", passed, total)
}

// results turns test results into Exercism's results.json.
func (w *Workbook) results(results []LessonResult) Results {
	out := Results{Version: 3, Status: "pass", Tests: []ResultTest{}, Lessons: []LessonSummary{}}
	ran := false
	var whyNot []string // per lesson that ran no test
	for _, r := range results {
		l := r.Lesson
		out.Lessons = append(out.Lessons, LessonSummary{ID: l.ID, Title: l.Meta.Title, Done: r.Done, Passed: r.Passed, Total: r.Total})
		code := testCode(filepath.Join(w.Root, l.Dir()))
		lessonRan := false
		for _, t := range r.Tests {
			rt := ResultTest{Name: l.ID + "/" + t.Name, Status: "fail", TestCode: code[t.Name], TaskID: t.Task + 1}
			switch t.Outcome {
			case "pass":
				rt.Status = "pass"
			case "fail", "skip":
				rt.Message = trimOutput(t.Output, 150)
			case "not run":
				rt.Status, rt.Message = "error", t.Output
				if r.BuildFailed {
					rt.Message = "This test did not run: " + buildErrors(r)
				}
			default: // hung, crashed
				rt.Status, rt.Message = "error", trimOutput(t.Output, 150)
			}
			if t.Outcome == "pass" || t.Outcome == "fail" || t.Outcome == "skip" {
				rt.Output = capOutput(trimOutput(t.Output, 1<<20))
			}
			lessonRan = lessonRan || t.Outcome != "not run"
			out.Tests = append(out.Tests, rt)
		}
		if r.PackageFailed && !r.BuildFailed && r.Total > 0 && r.Passed == r.Total {
			out.Tests = append(out.Tests, ResultTest{Name: l.ID + "/TestMain", Status: "fail",
				Message: "Every test passes, but the package fails after them (often a goroutine that outlives the tests):\n" + trimOutput(r.PackageOutput, 40)})
		}
		switch {
		case !lessonRan && r.BuildFailed:
			whyNot = append(whyNot, buildErrors(r))
		case !lessonRan:
			whyNot = append(whyNot, fmt.Sprintf("lessons/%s: %s", l.ID, didNotRun(r, "", "")))
		}
		ran = ran || lessonRan
	}
	for _, t := range out.Tests {
		if t.Status != "pass" {
			out.Status = "fail"
		}
	}
	if !ran {
		out.Status, out.Message = "error", "No test ran.\n\n"+strings.Join(whyNot, "\n\n")
	}
	return out
}

// buildErrors says that lesson r does not compile, and why.
func buildErrors(r LessonResult) string {
	return fmt.Sprintf("lessons/%s does not compile:\n%s", r.Lesson.ID, trimOutput(r.PackageOutput, 40))
}

// capOutput cuts a test's output to the interface's limit, note included.
func capOutput(s string) string {
	if utf8.RuneCountInString(s) <= outputLimit {
		return s
	}
	keep := outputLimit - utf8.RuneCountInString(truncatedNote)
	return string([]rune(s)[:keep]) + truncatedNote
}

// testCode returns the body of each test function in the _test.go files of
// dir, by name, as the interface's test_code: the statements, unindented.
func testCode(dir string) map[string]string {
	code := map[string]string{}
	files, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
		if err != nil {
			continue // a test file that does not parse: the build error says so
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || fn.Body == nil || !strings.HasPrefix(fn.Name.Name, "Test") {
				continue
			}
			body := src[fset.Position(fn.Body.Lbrace).Offset+1 : fset.Position(fn.Body.Rbrace).Offset]
			lines := strings.Split(strings.Trim(string(body), "\n"), "\n")
			code[fn.Name.Name] = strings.TrimRight(strings.Join(dedent(lines), "\n"), " \t\n")
		}
	}
	return code
}
