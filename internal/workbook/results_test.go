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

// fixtureLesson is lesson 01 of the fixture: TestAlpha_Add (Task 1), then
// TestAlpha_Greet (Task 2).
func fixtureLesson(t *testing.T) lessons.Lesson {
	t.Helper()
	all, err := lessons.Discover("testdata/fixture")
	require.NoError(t, err)
	return all[0]
}

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
