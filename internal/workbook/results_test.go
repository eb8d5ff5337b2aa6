package workbook

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-workbook/streaming/internal/gotest"
	"github.com/grpc-workbook/streaming/internal/lessons"
)

// fixtureLessons are the fixture's lessons: 01-alpha with TestAlpha_Add
// (Task 1) and TestAlpha_Greet (Task 2); 02-beta, whose README asks for -race.
func fixtureLessons(t *testing.T) []lessons.Lesson {
	t.Helper()
	all, err := lessons.Discover("testdata/fixture")
	require.NoError(t, err)
	return all
}

func fixtureLesson(t *testing.T) lessons.Lesson { return fixtureLessons(t)[0] }

// stream writes a canned `go test -json` run of the fixture's lesson 01:
// each step is {action, test, output}.
func stream(t *testing.T, steps ...[3]string) *gotest.Report {
	t.Helper()
	var b strings.Builder
	for _, s := range steps {
		line, err := json.Marshal(gotest.Event{Action: s[0], Package: "example.com/fixture/lessons/01-alpha", Test: s[1], Output: s[2]})
		require.NoError(t, err)
		b.Write(append(line, '\n'))
	}
	return gotest.Parse(strings.NewReader(b.String()))
}

func TestCollect_BinaryStoppedUnderATest_HungOrCrashed_LaterTestsDidNotRun(t *testing.T) {
	t.Parallel()
	packageEnd := [][3]string{{"output", "", "FAIL\texample.com/fixture/lessons/01-alpha\t8.1s\n"}, {"fail", "", ""}}
	for _, tc := range []struct {
		name, kind string
		printed    []string // what the binary printed while TestAlpha_Add ran
		wantShown  string   // a line of it the report must quote
	}{
		{"harness watchdog", "hung", []string{
			"--- FAIL: TestAlpha_Add (hung)\n",
			"    TestAlpha_Add has run for more than 8s and is stuck.\n",
			"    The lesson's code waits at alpha.go:4.\n",
			"FAIL\n",
		}, "The lesson's code waits at alpha.go:4."},
		{"go test -timeout", "hung", []string{
			"panic: test timed out after 2m0s\n", "\trunning tests:\n", "\t\tTestAlpha_Add (2m0s)\n",
		}, "TestAlpha_Add (2m0s)"},
		{"panic on another goroutine", "crashed", []string{
			"panic: boom\n", "\n", "goroutine 7 [running]:\n", "example.com/fixture/lessons/01-alpha.Add.func1()\n",
		}, "panic: boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			steps := [][3]string{{"run", "TestAlpha_Add", ""}, {"output", "TestAlpha_Add", "=== RUN   TestAlpha_Add\n"}}
			for _, p := range tc.printed {
				steps = append(steps, [3]string{"output", "TestAlpha_Add", p})
			}
			r := collect(fixtureLesson(t), stream(t, append(steps, packageEnd...)...))

			require.Len(t, r.Tests, 2)
			add, greet := r.Tests[0], r.Tests[1]
			assert.Equal(t, tc.kind, add.Outcome)
			assert.Contains(t, add.Output, "TestAlpha_Add "+tc.kind+": ")
			assert.Contains(t, add.Output, tc.wantShown, "the report quotes the end of what the binary printed")
			assert.Equal(t, "not run", greet.Outcome)
			assert.Contains(t, greet.Output, "did not run because TestAlpha_Add "+tc.kind)
			assert.False(t, r.Done)
		})
	}
}

func TestCollect_TestPanicsOnItsOwnGoroutine_Crashed(t *testing.T) {
	t.Parallel()
	r := collect(fixtureLesson(t), stream(t,
		[3]string{"run", "TestAlpha_Add", ""},
		[3]string{"output", "TestAlpha_Add", "--- FAIL: TestAlpha_Add (0.00s)\n"},
		[3]string{"output", "TestAlpha_Add", "panic: runtime error: index out of range [3] with length 3 [recovered]\n"},
		[3]string{"fail", "TestAlpha_Add", ""},
		[3]string{"output", "", "FAIL\texample.com/fixture/lessons/01-alpha\t0.01s\n"},
		[3]string{"fail", "", ""},
	))
	require.Len(t, r.Tests, 2)
	assert.Equal(t, "crashed", r.Tests[0].Outcome)
	assert.Contains(t, r.Tests[0].Output, "index out of range")
	assert.Equal(t, "not run", r.Tests[1].Outcome)
	assert.Contains(t, r.Tests[1].Output, "did not run because TestAlpha_Add crashed")
}

func TestRun_GoroutinePanics_ReportedAsCrashed(t *testing.T) {
	t.Parallel()
	w, _, root := fixture(t, "")
	require.NoError(t, os.WriteFile(filepath.Join(root, "lessons/01-alpha/alpha.go"), []byte(`package alpha

func Add(a, b int) int {
	sum := make(chan int)
	go func() { panic("boom: the sum went missing") }()
	return <-sum
}

func Greet(name string) string { return "" }
`), 0o644))
	r, err := w.runLesson(t.Context(), fixtureLesson(t))
	require.NoError(t, err)

	require.Len(t, r.Tests, 2)
	assert.Equal(t, "crashed", r.Tests[0].Outcome)
	assert.Contains(t, r.Tests[0].Output, "panic: boom: the sum went missing")
	assert.Equal(t, "not run", r.Tests[1].Outcome)
	assert.Contains(t, r.Tests[1].Output, "did not run because TestAlpha_Add crashed")
	assert.NotContains(t, r.Tests[1].Output, "an earlier test panicked")
}

// racyDouble is a right answer with a data race: only -race tells.
const racyDouble = `package beta

func Double(n int) int {
	var sum int
	done := make(chan bool)
	go func() { sum += n; done <- true }()
	sum += n
	<-done
	return sum
}
`

func TestRace_LessonAsksForIt_DataRaceFails_FirstCompileAnnounced(t *testing.T) {
	t.Parallel()
	w, out, root := fixture(t, "")
	require.NoError(t, os.WriteFile(filepath.Join(root, "lessons/02-beta/beta.go"), []byte(racyDouble), 0o644))
	beta := fixtureLessons(t)[1]
	require.True(t, beta.Meta.Race, "the fixture's README asks for go test -race")

	r, err := w.runLesson(t.Context(), beta)
	require.NoError(t, err)
	assert.False(t, r.Done, "a data race must not pass for done")
	assert.Contains(t, r.Tests[0].Output, "DATA RACE")
	assert.Contains(t, out.Take(), "Compiling with the race detector; the first time takes a minute.")

	_, err = w.runLesson(t.Context(), beta)
	require.NoError(t, err)
	assert.NotContains(t, out.Take(), "Compiling with the race detector", "said once: the race build is cached now")
}

func TestRace_NoCgo_RunsWithout_SaysSoOnce(t *testing.T) {
	t.Parallel()
	w, out, root := fixture(t, "")
	require.NoError(t, os.WriteFile(filepath.Join(root, "lessons/02-beta/beta.go"), []byte(racyDouble), 0o644))
	noCgo := false
	w.cgo = &noCgo

	for range 2 {
		results, err := w.runLessons(t.Context(), fixtureLessons(t))
		require.NoError(t, err)
		assert.True(t, results[1].Done, "without -race the racy answer passes")
	}
	got := out.String()
	assert.NotContains(t, got, "Compiling with the race detector")
	assert.Equal(t, 1, strings.Count(got, "data races cannot be caught here"), "said once, not on every run:\n%s", got)
}

func TestProgress_RunsUpToFirstNotDone_RemembersUnchangedLaterLessons(t *testing.T) {
	t.Parallel()
	w, _, root := fixture(t, "")
	all, err := lessons.Discover(root)
	require.NoError(t, err)
	remembered := func(rs []LessonResult) []bool {
		return []bool{rs[0].Remembered, rs[1].Remembered}
	}

	rs, err := w.progress(t.Context(), all)
	require.NoError(t, err)
	assert.Equal(t, []bool{false, false}, remembered(rs), "nothing is known yet: every lesson runs")

	rs, err = w.progress(t.Context(), all)
	require.NoError(t, err)
	assert.Equal(t, []bool{false, true}, remembered(rs), "lesson 01 is the one being worked on; 02 is unchanged")
	assert.Equal(t, LessonResult{Lesson: all[1], Total: 1, Remembered: true}, rs[1])

	solve(t, root, "01-alpha", "alpha.go")
	rs, err = w.progress(t.Context(), all)
	require.NoError(t, err)
	assert.True(t, rs[0].Done)
	assert.Equal(t, []bool{false, false}, remembered(rs), "02 is next now: it runs, for its failing test")
	require.Len(t, rs[1].Tests, 1)
	assert.Contains(t, rs[1].Tests[0].Output, "Double(4): got 0, want 8")
}
