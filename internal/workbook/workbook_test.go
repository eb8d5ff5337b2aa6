package workbook

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// syncBuffer is a bytes.Buffer that watch's goroutine may write while the
// test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Take returns what was written since the last Take.
func (b *syncBuffer) Take() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	b.buf.Reset()
	return s
}

// fixture copies the fixture workbook (testdata/fixture: its own module, two
// small lessons, no gRPC) to a temporary folder and returns a runner for it,
// its output, and its root. Its shipped stubs are the fixture's lesson files.
func fixture(t *testing.T, stdin string) (*Workbook, *syncBuffer, string) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "wb")
	require.NoError(t, os.CopyFS(root, os.DirFS("testdata/fixture")))
	stubs := fstest.MapFS{}
	for _, name := range []string{"01-alpha/alpha.go", "02-beta/beta.go"} {
		data, err := os.ReadFile(filepath.Join("testdata/fixture/lessons", name))
		require.NoError(t, err)
		stubs[name] = &fstest.MapFile{Data: data}
	}
	out := &syncBuffer{}
	return &Workbook{Root: root, Stubs: stubs, In: strings.NewReader(stdin), Out: out}, out, root
}

// solve copies a lesson's solution over its stub, as a learner who is done.
func solve(t *testing.T, root, id, name string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "solutions", id, name))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(root, "lessons", id, name), data, 0o644))
}

func TestStatus_Fresh_EveryLessonAtZero_PointsAtFirstTask(t *testing.T) {
	t.Parallel()
	w, out, _ := fixture(t, "")
	require.NoError(t, w.Run(t.Context(), nil))
	got := out.String()
	assert.Regexp(t, `01-alpha\s+Alpha\s+0/2\s+next`, got)
	assert.Regexp(t, `02-beta\s+Beta\s+0/1\s+-`, got)
	assert.Contains(t, got, "Next: lesson 01-alpha, Task 1: Add")
	assert.Contains(t, got, "FAIL TestAlpha_Add")
	assert.Contains(t, got, "Add(2, 3): got 0, want 5")
	assert.Contains(t, got, "Hint 1 of 2: add hint one")
	assert.NotContains(t, got, "\x1b[", "no colour unless asked for")
}

func TestStatus_LessonSolved_ShowsDone_PointsAtNextLesson(t *testing.T) {
	t.Parallel()
	w, out, root := fixture(t, "")
	solve(t, root, "01-alpha", "alpha.go")
	w.Color = true
	require.NoError(t, w.Run(t.Context(), nil))
	got := out.String()
	assert.Regexp(t, `01-alpha\s+Alpha\s+2/2\s+\x1b\[32mdone`, got)
	assert.Contains(t, got, "Next:\x1b[0m lesson 02-beta")
	assert.Contains(t, got, "Double(4): got 0, want 8")
}

func TestStatus_ALesson_PointsAtItsNextTest(t *testing.T) {
	t.Parallel()
	w, out, _ := fixture(t, "")
	require.NoError(t, w.Run(t.Context(), []string{"2"}))
	got := out.Take()
	assert.Regexp(t, `01-alpha\s+Alpha\s+0/2\s+next`, got, "the progress table, as without a lesson")
	assert.Contains(t, got, "Next: lesson 02-beta")
	assert.Contains(t, got, "Double(4): got 0, want 8")
	assert.Contains(t, got, "go run ./cmd/workbook watch 02")

	require.NoError(t, w.Run(t.Context(), []string{"status", "beta"}))
	assert.Contains(t, out.Take(), "Double(4): got 0, want 8", "status LESSON")

	err := w.Run(t.Context(), []string{"9"})
	var usage *UsageError
	require.ErrorAs(t, err, &usage, "a lesson that does not exist")
	assert.Contains(t, usage.Msg, "unknown command")
}

func TestVerify_BuildError_IsReported(t *testing.T) {
	t.Parallel()
	w, out, root := fixture(t, "")
	require.NoError(t, os.WriteFile(filepath.Join(root, "lessons/02-beta/beta.go"),
		[]byte("package beta\n\nfunc Double(n int) int { return \"x\" }\n"), 0o644))
	err := w.Run(t.Context(), []string{"verify"})
	require.ErrorIs(t, err, ErrNotDone)
	got := out.String()
	assert.Contains(t, got, "02-beta does not compile")
	assert.Contains(t, got, "beta.go:3")
	assert.Contains(t, got, "FAIL 01-alpha/TestAlpha_Add (Task 1: Add)")
	assert.Contains(t, got, "0 of 3 tests pass")
}

// multiLineHint is hint 2 of the fixture's lesson 01, Task 1, as its README
// has it.
const multiLineHint = "add hint two, in two paragraphs.\n\nThe second paragraph, with `code`."

func TestHint_OneMoreEachCall_OrExactlyN(t *testing.T) {
	t.Parallel()
	w, out, _ := fixture(t, "")
	ctx := t.Context()

	require.NoError(t, w.Run(ctx, []string{"hint", "1"}))
	got := out.Take()
	assert.Contains(t, got, "Task 1: Add")
	assert.Contains(t, got, "Hint 1 of 2: add hint one")
	assert.NotContains(t, got, "add hint two")

	require.NoError(t, w.Run(ctx, []string{"hint", "alpha"}))
	got = out.Take()
	assert.NotContains(t, got, "Running the tests", "unchanged files: the cached result is used")
	assert.Contains(t, got, "Hint 2 of 2:\n"+multiLineHint+"\n", "a hint is the README's text, word for word")
	assert.Contains(t, got, "last hint")

	require.NoError(t, w.Run(ctx, []string{"hint", "01", "1"}))
	got = out.Take()
	assert.Contains(t, got, "Hint 1 of 2: add hint one")
	assert.NotContains(t, got, "add hint two")

	var usage *UsageError
	require.ErrorAs(t, w.Run(ctx, []string{"hint", "1", "3"}), &usage)
	assert.Contains(t, usage.Msg, "has 2 hints")
}

func TestUnknownCommandOrLesson_SaysWhatExists(t *testing.T) {
	t.Parallel()
	w, _, _ := fixture(t, "")
	var usage *UsageError
	require.ErrorAs(t, w.Run(t.Context(), []string{"hint", "7"}), &usage)
	assert.Contains(t, usage.Msg, `no lesson "7"`)
	assert.Contains(t, usage.Msg, "1 (01-alpha), 2 (02-beta)")

	require.ErrorAs(t, w.Run(t.Context(), []string{"frobnicate"}), &usage)
	assert.Contains(t, usage.Msg, `unknown command "frobnicate"`)

	require.ErrorAs(t, w.Run(t.Context(), []string{"reset", "1", "--force"}), &usage)
	assert.Contains(t, usage.Msg, "unknown flag --force")

	require.ErrorAs(t, w.Run(t.Context(), []string{"reset"}), &usage)
}

func TestHelp_ListsEveryCommand(t *testing.T) {
	t.Parallel()
	w, out, _ := fixture(t, "")
	require.NoError(t, w.Run(t.Context(), []string{"help"}))
	for _, cmd := range []string{"watch", "--poll", "hint LESSON [N]", "--task", "reset LESSON", "reset --all", "restore LESSON", "solution LESSON", "verify [LESSON]", "--json"} {
		assert.Contains(t, out.String(), cmd)
	}
}

func TestReset_AsksFirst_ThenRestoresShippedStubs(t *testing.T) {
	t.Parallel()
	w, out, root := fixture(t, "n\ny\n")
	stub := filepath.Join(root, "lessons/01-alpha/alpha.go")
	shipped, err := fs.ReadFile(w.Stubs, "01-alpha/alpha.go")
	require.NoError(t, err)
	solve(t, root, "01-alpha", "alpha.go")
	edited, err := os.ReadFile(stub)
	require.NoError(t, err)

	require.NoError(t, w.Run(t.Context(), []string{"reset", "1"}))
	assert.Contains(t, out.Take(), "Nothing changed.")
	have, _ := os.ReadFile(stub)
	assert.Equal(t, string(edited), string(have), "answering n must leave the file alone")

	require.NoError(t, w.Run(t.Context(), []string{"reset", "alpha"}))
	assert.Contains(t, out.Take(), "restored lessons/01-alpha/alpha.go as shipped")
	have, _ = os.ReadFile(stub)
	assert.Equal(t, string(shipped), string(have))

	// --all --yes asks nothing, even with no input left.
	solve(t, root, "01-alpha", "alpha.go")
	solve(t, root, "02-beta", "beta.go")
	require.NoError(t, w.Run(t.Context(), []string{"reset", "--all", "--yes"}))
	got := out.Take()
	assert.NotContains(t, got, "[y/N]")
	for _, name := range []string{"01-alpha/alpha.go", "02-beta/beta.go"} {
		want, _ := fs.ReadFile(w.Stubs, name)
		have, _ := os.ReadFile(filepath.Join(root, "lessons", name))
		assert.Equal(t, string(want), string(have), name)
	}
}

func TestSolution_AsksBeforeDone_ThenShowsDiff(t *testing.T) {
	t.Parallel()
	w, out, _ := fixture(t, "n\n")
	require.NoError(t, w.Run(t.Context(), []string{"solution", "1"}))
	got := out.Take()
	assert.Contains(t, got, "not done yet: 0 of 2 tests pass")
	assert.Contains(t, got, "Nothing shown.")
	assert.NotContains(t, got, "+++")

	require.NoError(t, w.Run(t.Context(), []string{"solution", "alpha", "--yes"}))
	got = out.Take()
	assert.Contains(t, got, "--- lessons/01-alpha/alpha.go (yours)\n+++ solutions/01-alpha/alpha.go (solution)\n")
	assert.Contains(t, got, "\n-func Add(a, b int) int { return 0 }\n")
	assert.Contains(t, got, "\n+func Add(a, b int) int { return a + b }\n")
}

func TestUnifiedDiff(t *testing.T) {
	a := "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\n"
	b := "a\nB\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\n"
	want := `--- x
+++ y
@@ -1,5 +1,5 @@
 a
-b
+B
 c
 d
 e
@@ -9,3 +9,4 @@
 i
 j
 k
+l
`
	assert.Equal(t, want, unifiedDiff("x", "y", a, b))
	assert.Empty(t, unifiedDiff("x", "y", a, a))
}

// watchRuns starts `watch args...` on the fixture and returns a channel that
// receives every result watch draws, and a stop function.
func watchRuns(t *testing.T, w *Workbook, args ...string) (<-chan LessonResult, func()) {
	t.Helper()
	runs := make(chan LessonResult, 16)
	w.afterRun = func(r LessonResult) { runs <- r }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, append([]string{"watch"}, args...)) }()
	stop := func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err, "watch should end quietly when its context ends")
		case <-time.After(30 * time.Second): // fail-safe
			t.Fatal("watch did not return after its context ended")
		}
	}
	return runs, stop
}

// nextRun waits for watch's next result, with a fail-safe.
func nextRun(t *testing.T, runs <-chan LessonResult, what string) LessonResult {
	t.Helper()
	select {
	case r := <-runs:
		return r
	case <-time.After(30 * time.Second): // fail-safe: a go test run takes a second or two
		t.Fatalf("watch never re-ran: waited for %s", what)
		panic("unreachable")
	}
}

func TestWatch_FileSaved_ReRuns(t *testing.T) {
	t.Parallel()
	w, out, root := fixture(t, "")
	runs, stop := watchRuns(t, w, "1")
	defer stop()

	first := nextRun(t, runs, "the first run")
	assert.Equal(t, "01-alpha", first.Lesson.ID)
	assert.Equal(t, 0, first.Passed)
	assert.Contains(t, out.String(), "Watching lessons/01-alpha")

	solve(t, root, "01-alpha", "alpha.go") // the file event starts the next run
	second := nextRun(t, runs, "a run after alpha.go was saved")
	assert.True(t, second.Done, "the saved solution should pass: %+v", second)
	assert.Contains(t, out.String(), "lesson 01-alpha is done")
}

func TestWatch_Poll_FileSaved_ReRunsOnNextTick(t *testing.T) {
	t.Parallel()
	w, _, root := fixture(t, "")
	ticks := make(chan time.Time)
	w.pollTicks = ticks
	runs, stop := watchRuns(t, w, "1", "--poll")
	defer stop()

	first := nextRun(t, runs, "the first run")
	assert.Equal(t, 0, first.Passed)

	ticks <- time.Time{} // nothing changed: no run
	solve(t, root, "01-alpha", "alpha.go")
	ticks <- time.Time{} // the poller sees the new file on this tick
	second := nextRun(t, runs, "a run after alpha.go was saved and the poller ticked")
	assert.True(t, second.Done, "the saved solution should pass: %+v", second)
	select {
	case r := <-runs:
		t.Errorf("one change made one run, but there was another: %+v", r)
	default:
	}
}

func TestWatch_NoLesson_StartsAtFirstNotDone_MovesOnWhenDone(t *testing.T) {
	t.Parallel()
	w, out, root := fixture(t, "")
	ticks := make(chan time.Time)
	w.pollTicks = ticks
	runs, stop := watchRuns(t, w, "--poll")
	defer stop()

	assert.Equal(t, "01-alpha", nextRun(t, runs, "the first run").Lesson.ID)
	solve(t, root, "01-alpha", "alpha.go")
	ticks <- time.Time{}
	assert.True(t, nextRun(t, runs, "a run after alpha.go was saved").Done)
	next := nextRun(t, runs, "the next lesson's first run")
	assert.Equal(t, "02-beta", next.Lesson.ID, "lesson 01 is done: on to lesson 02")
	assert.Contains(t, out.String(), "On to lesson 02-beta.")
}

func TestParseArgs(t *testing.T) {
	p, err := parseArgs("x", []string{"1", "-y", "--interval=2s", "--all"}, []string{"yes", "all"}, []string{"interval"})
	require.NoError(t, err)
	assert.Equal(t, []string{"1"}, p.args)
	assert.True(t, p.bools["yes"])
	assert.True(t, p.bools["all"])
	assert.Equal(t, "2s", p.values["interval"])

	_, err = parseArgs("x", []string{"--interval"}, nil, []string{"interval"})
	var usage *UsageError
	assert.True(t, errors.As(err, &usage))
}
