package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/format"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-workbook/streaming/internal/gotest"
	"github.com/grpc-workbook/streaming/internal/lessons"
	"github.com/grpc-workbook/streaming/internal/pristine"
	"github.com/grpc-workbook/streaming/internal/protogen"
)

// root is the repository root: two folders up from this package.
var root = func() string {
	abs, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		panic(err)
	}
	return abs
}()

func discover(t *testing.T) []lessons.Lesson {
	t.Helper()
	all, err := lessons.Discover(root)
	require.NoError(t, err, "reading the lesson folders")
	require.NotEmpty(t, all, "no lessons found below %s/lessons", root)
	return all
}

func TestGeneratedCode_IsFresh(t *testing.T) {
	stale, err := protogen.Check(t.Context(), root)
	require.NoError(t, err, "generating the protobuf code")
	assert.Empty(t, stale, "generated code is stale or missing; run `go generate ./...` and commit the result")
}

// TestStubSnapshot_MatchesLessons checks that the copy of the stubs built into
// the workbook is the one in lessons/. A learner's edits make them differ, so
// outside CI a difference only skips the test.
func TestStubSnapshot_MatchesLessons(t *testing.T) {
	var differ []string
	for _, l := range discover(t) {
		names, err := l.StubFiles(root)
		require.NoError(t, err)
		stored, err := pristine.Lesson(l.ID)
		require.NoError(t, err, "lesson %s has no stub snapshot; run `go generate ./...`", l.ID)
		for _, name := range names {
			have, _ := os.ReadFile(filepath.Join(root, l.Dir(), name))
			if string(have) != string(stored[name]) {
				differ = append(differ, filepath.Join(l.Dir(), name))
			}
		}
		if len(stored) != len(names) {
			differ = append(differ, fmt.Sprintf("%s (snapshot has %d files, solution has %d)", l.ID, len(stored), len(names)))
		}
	}
	if len(differ) == 0 {
		return
	}
	msg := fmt.Sprintf("these stubs differ from the snapshot in internal/pristine: %s", strings.Join(differ, ", "))
	if os.Getenv("CI") == "" {
		t.Skip(msg + "\n(expected once you have started a lesson; authors: run `go generate ./...` after editing a stub)")
	}
	t.Fatal(msg + "\nrun `go generate ./...` and commit the result")
}

// TestGofmt checks every Go file is formatted as gofmt would: learners copy
// the style of what they read.
func TestGofmt(t *testing.T) {
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		formatted, err := format.Source(src)
		if err != nil {
			t.Errorf("%s does not parse: %v", path, err)
		} else if !bytes.Equal(src, formatted) {
			t.Errorf("%s is not gofmt-formatted; run gofmt -w on it", path)
		}
		return nil
	})
	require.NoError(t, err)
}

func TestVet(t *testing.T) {
	out, err := exec.CommandContext(t.Context(), "go", "-C", root, "vet", "./...").CombinedOutput()
	assert.NoError(t, err, "go vet ./...:\n%s", out)
}

// TestLessons_AreComplete checks each lesson's folder has what a learner and
// the runner need, and that every fact about its tasks has one source: the
// README's "## Task N: Title" headings, "Tests:" lines and hint blocks. The
// runner's hints and the failing tests' pointers are read from there, so this
// checks that nothing else states them: no lesson.json, no task titles in the
// tests, and TODO markers that name tasks the README has.
func TestLessons_AreComplete(t *testing.T) {
	taskTitle := regexp.MustCompile(`"Task \d+: `)
	for _, l := range discover(t) {
		t.Run(l.ID, func(t *testing.T) {
			assert.NoFileExists(t, filepath.Join(root, l.Dir(), "lesson.json"),
				"lesson.json is gone: README.md is the one source of tasks, tests and hints")
			require.NotEmpty(t, l.Meta.Tasks, "README.md has no \"## Task 1: ...\" heading")
			for _, task := range l.Meta.Tasks {
				assert.NotEmpty(t, task.Tests, "README.md: %q has no \"Tests:\" line naming its tests", task.Title)
				assert.NotEmpty(t, task.Hints, "README.md: %q has no <details><summary>Hint 1</summary> block", task.Title)
			}

			tests, err := filepath.Glob(filepath.Join(root, l.Dir(), "*_test.go"))
			require.NoError(t, err)
			for _, path := range tests {
				src, err := os.ReadFile(path)
				require.NoError(t, err)
				if loc := taskTitle.FindIndex(src); loc != nil {
					t.Errorf("%s names a task title (%q): tests must not; the harness finds a test's task by its name in README.md",
						filepath.Base(path), src[loc[0]:min(loc[1]+30, len(src))])
				}
			}

			names, err := l.StubFiles(root)
			require.NoError(t, err)
			stubs, err := pristine.Lesson(l.ID)
			require.NoError(t, err)
			marker := regexp.MustCompile(`TODO\(lesson (\d\d)\): Task (\d+)`)
			marked := map[int]bool{}
			for _, name := range names {
				stub := stubs[name]
				solution, err := os.ReadFile(filepath.Join(root, l.SolutionDir(), name))
				require.NoError(t, err)
				assert.NotEqual(t, string(stub), string(solution), "%s: the stub and the solution are the same", name)
				for _, m := range marker.FindAllStringSubmatch(string(stub), -1) {
					n, _ := strconv.Atoi(m[2])
					marked[n] = true
					assert.Equal(t, fmt.Sprintf("%02d", l.Number), m[1], "%s: %q names another lesson", name, m[0])
					assert.True(t, n >= 1 && n <= len(l.Meta.Tasks), "%s: %q names a task README.md does not have", name, m[0])
				}
			}
			for i, task := range l.Meta.Tasks {
				assert.True(t, marked[i+1], "no stub has a TODO(lesson %02d): Task %d marker for %q", l.Number, i+1, task.Title)
			}
		})
	}
}

// TestLessons_SolutionsPass_StubsFail is the two-way check: every lesson test
// passes on the solution and fails on the shipped stub.
func TestLessons_SolutionsPass_StubsFail(t *testing.T) {
	count := 20
	if v := os.Getenv("WORKBOOK_VERIFY_COUNT"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "WORKBOOK_VERIFY_COUNT")
		count = n
	}
	race := raceAvailable(t.Context())
	if !race {
		t.Log("cgo is off here, so the solutions run without -race")
	}
	for _, l := range discover(t) {
		t.Run(l.ID, func(t *testing.T) {
			names := checkSolution(t, l, count, race)
			checkTasksCoverTests(t, l, names)
			checkStubFailsEveryTest(t, l, names)
		})
	}
}

// checkSolution runs the lesson's tests with the solution files in place of
// the stubs, and returns the names of the tests (and subtests) that ran.
func checkSolution(t *testing.T, l lessons.Lesson, count int, race bool) []string {
	t.Helper()
	args := []string{"-overlay", writeOverlay(t, solutionOverlay(t, l)), "-count", strconv.Itoa(count), "-shuffle=on"}
	if race {
		args = append(args, "-race")
	}
	rep, err := gotest.Run(context.Background(), root, append(args, l.Package())...)
	require.NoError(t, err)

	for _, name := range rep.Names() {
		if res, failed := rep.FirstFailure(name); failed {
			t.Errorf("%s fails on the solution (solutions/%s):\n%s", name, l.ID, res.Output)
		}
	}
	if rep.Failed {
		t.Errorf("go test %s with the solution failed:\n%s", strings.Join(args, " "), rep.Output)
	}
	require.NotEmpty(t, rep.Names(), "no tests ran for lesson %s", l.ID)
	return rep.Names()
}

// checkTasksCoverTests checks that the README names every top-level test in
// exactly one task, and names no test that does not exist.
func checkTasksCoverTests(t *testing.T, l lessons.Lesson, names []string) {
	t.Helper()
	exists := map[string]bool{}
	for _, n := range names {
		if !strings.Contains(n, "/") {
			exists[n] = true
		}
	}
	listed := map[string]int{}
	for _, task := range l.Meta.Tasks {
		for _, n := range task.Tests {
			listed[n]++
			assert.True(t, exists[n], "README.md: the \"Tests:\" line of %q names %s, which did not run", task.Title, n)
		}
	}
	for n := range exists {
		assert.Equal(t, 1, listed[n], "README.md: %s should be named on exactly one task's \"Tests:\" line", n)
	}
}

// checkStubFailsEveryTest runs the tests against the shipped stubs and names
// every test that does not fail, or fails without pointing at the README.
func checkStubFailsEveryTest(t *testing.T, l lessons.Lesson, names []string) {
	t.Helper()
	stubs, err := pristine.Lesson(l.ID)
	require.NoError(t, err, "no stub snapshot for %s; run `go generate ./...`", l.ID)
	dir := t.TempDir()
	replace := map[string]string{}
	for name, data := range stubs {
		copyPath := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(copyPath, data, 0o644))
		replace[filepath.Join(root, l.Dir(), name)] = copyPath
	}
	rep, err := gotest.Run(context.Background(), root, "-overlay", writeOverlay(t, replace), "-count=1", l.Package())
	require.NoError(t, err)
	outcomes := rep.Outcomes()
	if len(outcomes) == 0 {
		t.Fatalf("no test ran against the stubs of %s; do they compile?\n%s", l.ID, rep.Output)
	}

	for _, name := range names {
		switch outcomes[name] {
		case "fail":
			if out := outputOf(rep, name); !strings.Contains(out, "README") {
				t.Errorf("%s fails on the stub without pointing at the lesson README; its output:\n%s", name, out)
			}
			if secs := elapsedOf(rep, name); secs > stubTimeLimit.Seconds() {
				t.Errorf("%s took %.1fs to fail on the stub; red must come fast (at most %v): "+
					"a stub must fail at once, or at a harness wait, never at a call's fail-safe", name, secs, stubTimeLimit)
			}
		case "":
			t.Errorf("%s did not run against the stub: did an earlier test panic or hang?\n%s", name, rep.Output)
		default:
			t.Errorf("%s got %q on the untouched stub, want fail: it does not check the learner's work", name, outcomes[name])
		}
	}
}

// stubTimeLimit bounds how long a test may take to fail on the stub.
const stubTimeLimit = 5 * time.Second

// elapsedOf is how long the top-level test name took, in seconds.
func elapsedOf(rep *gotest.Report, name string) float64 {
	for _, res := range rep.Tests {
		if res.Name == name {
			return res.Elapsed
		}
	}
	return 0
}

// outputOf gathers what a test and its subtests printed.
func outputOf(rep *gotest.Report, name string) string {
	var b strings.Builder
	for _, res := range rep.Tests {
		if res.Name == name || strings.HasPrefix(res.Name, name+"/") {
			b.WriteString(res.Output)
		}
	}
	return b.String()
}

// solutionOverlay maps each of the lesson's stub files to its solution file.
func solutionOverlay(t *testing.T, l lessons.Lesson) map[string]string {
	t.Helper()
	names, err := l.StubFiles(root)
	require.NoError(t, err)
	replace := map[string]string{}
	for _, name := range names {
		replace[filepath.Join(root, l.Dir(), name)] = filepath.Join(root, l.SolutionDir(), name)
	}
	return replace
}

func writeOverlay(t *testing.T, replace map[string]string) string {
	t.Helper()
	data, err := json.Marshal(map[string]any{"Replace": replace})
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "overlay.json")
	require.NoError(t, os.WriteFile(path, data, 0o644))
	return path
}

// raceAvailable reports whether -race can be used: it needs cgo, which Go
// turns off when no C compiler is installed.
func raceAvailable(ctx context.Context) bool {
	out, err := exec.CommandContext(ctx, "go", "env", "CGO_ENABLED").Output()
	return err == nil && strings.TrimSpace(string(out)) == "1"
}
