package verify

import (
	"bytes"
	"context"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-workbook/streaming/internal/gotest"
	"github.com/grpc-workbook/streaming/internal/lessons"
	"github.com/grpc-workbook/streaming/internal/pristine"
)

// TestLessons_Staged proves that the tasks are steps: for every task N, with
// tasks 1..N solved and the rest as shipped, every test of tasks 1..N passes
// and every test of task N+1 fails. So a learner's progress count never
// credits a task before its work is done, and finishing task N never needs
// the work of a later one.
//
// No staged copies are kept by hand. A stub function belongs to the task its
// `TODO(lesson NN): Task K` markers name (in its body or doc comment); stage N
// is the solution with every function of a later task put back as the stub
// has it.
func TestLessons_Staged(t *testing.T) {
	for _, l := range discover(t) {
		t.Run(l.ID, func(t *testing.T) {
			stubs, err := pristine.Lesson(l.ID)
			require.NoError(t, err, "no stub snapshot for %s; run `go generate ./...`", l.ID)
			for n := 1; n < len(l.Meta.Tasks); n++ {
				t.Run(fmt.Sprintf("after_task_%d", n), func(t *testing.T) {
					t.Parallel()
					replace := map[string]string{}
					for name, stub := range stubs {
						solution, err := os.ReadFile(filepath.Join(root, l.SolutionDir(), name))
						require.NoError(t, err)
						staged, err := stage(stub, solution, n)
						require.NoError(t, err, "%s: building stage %d", name, n)
						p := filepath.Join(t.TempDir(), name)
						require.NoError(t, os.WriteFile(p, staged, 0o644))
						replace[filepath.Join(root, l.Dir(), name)] = p
					}
					overlay := writeOverlay(t, replace)
					checkStage(t, l, overlay, n)
				})
			}
		})
	}
}

// checkStage runs the tests of tasks 1..n, which must pass, and those of task
// n+1, which must fail, against the files of stage n.
func checkStage(t *testing.T, l lessons.Lesson, overlay string, n int) {
	var done []string
	for _, task := range l.Meta.Tasks[:n] {
		done = append(done, task.Tests...)
	}
	rep := runTests(t, l, overlay, done)
	outcomes := rep.Outcomes()
	for _, name := range done {
		if outcomes[name] != "pass" {
			res, _ := rep.FirstFailure(name)
			t.Errorf("with tasks 1..%d solved and the rest as shipped, %s (a test of an earlier task) got %q, want pass: "+
				"does it need a later task's work?\n%s%s", n, name, outcomes[name], res.Output, rep.Output)
		}
	}
	next := l.Meta.Tasks[n]
	rep = runTests(t, l, overlay, next.Tests)
	outcomes = rep.Outcomes()
	for _, name := range next.Tests {
		if outcomes[name] != "fail" && !hung(rep, name) {
			t.Errorf("with tasks 1..%d solved and the rest as shipped, %s (a test of %q) got %q, want fail: "+
				"it passes before its task is done, so the progress count would credit the task too early",
				n, name, next.Title, outcomes[name])
		}
	}
}

func runTests(t *testing.T, l lessons.Lesson, overlay string, names []string) *gotest.Report {
	t.Helper()
	rep, err := gotest.Run(context.Background(), root,
		"-overlay", overlay, "-count=1", "-run", "^("+strings.Join(names, "|")+")$", l.Package())
	require.NoError(t, err)
	return rep
}

var todoMarker = regexp.MustCompile(`TODO\(lesson \d\d\): Task (\d+)`)

// stubTasks returns, for each function of a stub file that has TODO markers,
// the task they name ("Type.Method" or "Func" → task). A function whose
// markers name two tasks is an error: it must be split so stages can be built.
func stubTasks(fset *token.FileSet, f *ast.File) (map[string]int, error) {
	tasks := map[string]int{}
	for _, decl := range f.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok {
			continue
		}
		start, end := fn.Pos(), fn.End()
		if fn.Doc != nil {
			start = fn.Doc.Pos()
		}
		seen := map[int]bool{}
		for _, group := range f.Comments {
			if group.Pos() < start || group.End() > end {
				continue
			}
			for _, m := range todoMarker.FindAllStringSubmatch(group.Text(), -1) {
				k, _ := strconv.Atoi(m[1])
				seen[k] = true
			}
		}
		if len(seen) > 1 {
			var list []int
			for k := range seen {
				list = append(list, k)
			}
			sort.Ints(list)
			return nil, fmt.Errorf("%s has TODOs of tasks %v: a function belongs to one task; split it", funcKey(fn), list)
		}
		for k := range seen {
			tasks[funcKey(fn)] = k
		}
	}
	return tasks, nil
}

func funcKey(fn *ast.FuncDecl) string {
	if fn.Recv == nil || len(fn.Recv.List) == 0 {
		return fn.Name.Name
	}
	typ := fn.Recv.List[0].Type
	if star, ok := typ.(*ast.StarExpr); ok {
		typ = star.X
	}
	if idx, ok := typ.(*ast.IndexExpr); ok { // a generic receiver, T[E]
		typ = idx.X
	}
	if id, ok := typ.(*ast.Ident); ok {
		return id.Name + "." + fn.Name.Name
	}
	return fn.Name.Name
}

// declSource returns a function's source, doc comment included.
func declSource(src []byte, fset *token.FileSet, fn *ast.FuncDecl) (start, end int) {
	s := fn.Pos()
	if fn.Doc != nil {
		s = fn.Doc.Pos()
	}
	return fset.Position(s).Offset, fset.Position(fn.End()).Offset
}

// stage returns the solution file with every function of a task after n
// replaced by the stub's version, and its imports fixed to match.
func stage(stub, solution []byte, n int) ([]byte, error) {
	fset := token.NewFileSet()
	stubFile, err := parser.ParseFile(fset, "stub.go", stub, parser.ParseComments)
	if err != nil {
		return nil, err
	}
	tasks, err := stubTasks(fset, stubFile)
	if err != nil {
		return nil, err
	}
	stubFuncs := map[string]string{}
	for _, decl := range stubFile.Decls {
		if fn, ok := decl.(*ast.FuncDecl); ok {
			s, e := declSource(stub, fset, fn)
			stubFuncs[funcKey(fn)] = string(stub[s:e])
		}
	}
	solFile, err := parser.ParseFile(fset, "solution.go", solution, parser.ParseComments)
	if err != nil {
		return nil, err
	}
	// Replace from the end, so earlier offsets stay valid.
	out := append([]byte(nil), solution...)
	decls := solFile.Decls
	for i := len(decls) - 1; i >= 0; i-- {
		fn, ok := decls[i].(*ast.FuncDecl)
		if !ok {
			continue
		}
		key := funcKey(fn)
		if task, ok := tasks[key]; !ok || task <= n {
			continue
		}
		s, e := declSource(solution, fset, fn)
		out = append(out[:s], append([]byte(stubFuncs[key]), out[e:]...)...)
	}
	return fixImports(out, stubFile)
}

// fixImports gives src the imports it uses, from its own and extra's, and no
// others: a stage puts back stub functions, so a solution import may now be
// unused, or a stub import missing.
func fixImports(src []byte, extra *ast.File) ([]byte, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "staged.go", src, parser.ParseComments)
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok {
				used[id.Name] = true
			}
		}
		return true
	})
	specs := map[string]*ast.ImportSpec{}
	for _, imp := range append(f.Imports, extra.Imports...) {
		specs[imp.Path.Value] = imp
	}
	var lines []string
	for p, imp := range specs {
		name := importName(imp)
		if name == "_" || name == "." || used[name] {
			if imp.Name != nil {
				lines = append(lines, imp.Name.Name+" "+p)
			} else {
				lines = append(lines, p)
			}
		}
	}
	sort.Strings(lines)
	var block bytes.Buffer
	block.WriteString("import (\n")
	for _, line := range lines {
		block.WriteString("\t" + line + "\n")
	}
	block.WriteString(")\n")

	// Swap the file's import declarations for the new block.
	var start, end int = -1, -1
	for _, decl := range f.Decls {
		if gd, ok := decl.(*ast.GenDecl); ok && gd.Tok == token.IMPORT {
			if start < 0 {
				start = fset.Position(gd.Pos()).Offset
			}
			end = fset.Position(gd.End()).Offset
		}
	}
	if start < 0 {
		return src, nil
	}
	out := append(append(append([]byte(nil), src[:start]...), block.Bytes()...), src[end:]...)
	return format.Source(out)
}

// importName is the name a file uses for an import: its explicit name, or
// the last element of its path (ignoring a major version suffix), without a
// ".go" suffix or a "go-" prefix, the usual spellings of a module whose
// package name is shorter ("github.com/nats-io/nats.go" is package nats).
func importName(imp *ast.ImportSpec) string {
	if imp.Name != nil {
		return imp.Name.Name
	}
	p, _ := strconv.Unquote(imp.Path.Value)
	name := path.Base(p)
	if regexp.MustCompile(`^v\d+$`).MatchString(name) {
		name = path.Base(path.Dir(p))
	}
	return strings.TrimPrefix(strings.TrimSuffix(name, ".go"), "go-")
}

// TestStage_PutsBackLaterTasks checks the stage builder on a small file.
func TestStage_PutsBackLaterTasks(t *testing.T) {
	stub := []byte(`package p

import "errors"

// A is task 1.
func A() error {
	// TODO(lesson 09): Task 1. Do A.
	return errors.New("not yet")
}

func (s *S) B() int {
	// TODO(lesson 09): Task 2. Do B.
	return 0
}

type S struct{}
`)
	solution := []byte(`package p

import (
	"fmt"
	"strings"
)

// A is task 1.
func A() error { return fmt.Errorf("%s", strings.ToUpper("a")) }

func (s *S) B() int { return len(strings.Repeat("b", 2)) }

type S struct{}
`)
	got, err := stage(stub, solution, 1)
	require.NoError(t, err)
	assert.Contains(t, string(got), `strings.ToUpper("a")`, "task 1 is solved at stage 1")
	assert.Contains(t, string(got), "// TODO(lesson 09): Task 2. Do B.", "task 2 is the stub's at stage 1")
	assert.NotContains(t, string(got), `"errors"`, "an import nobody uses is dropped")
	_, err = parser.ParseFile(token.NewFileSet(), "", got, 0)
	assert.NoError(t, err)

	for imp, want := range map[string]string{
		`"github.com/nats-io/nats.go"`:               "nats",
		`"github.com/nats-io/nats-server/v2/server"`: "server",
		`"github.com/x/go-yaml"`:                     "yaml",
		`"github.com/x/y/v2"`:                        "y",
		`z "github.com/x/y"`:                         "z",
	} {
		f, err := parser.ParseFile(token.NewFileSet(), "", "package p\nimport "+imp+"\n", parser.ImportsOnly)
		require.NoError(t, err)
		assert.Equal(t, want, importName(f.Imports[0]), "the name of import %s", imp)
	}

	two := []byte("package p\n\nfunc A() {\n\t// TODO(lesson 09): Task 1.\n\t// TODO(lesson 09): Task 2.\n}\n")
	_, err = stage(two, two, 1)
	assert.ErrorContains(t, err, "a function belongs to one task")
}
