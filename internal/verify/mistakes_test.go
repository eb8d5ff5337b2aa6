package verify

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-workbook/streaming/internal/gotest"
	"github.com/grpc-workbook/streaming/internal/lessons"
)

// A mistake is one plausible wrong answer, kept as whole files a person can
// read and diff: solutions/NN-slug/testdata/mistakes/<name>/<file>.go, each a
// copy of the solution file of the same name with the mistake in it. The
// first file starts with a header comment:
//
//	// Mistake: Publish asks SubscriberCount for the count while it holds h.mu.
//	//
//	// Why it is wrong: sync.Mutex is not re-entrant: the second Lock waits forever.
//	//
//	// Caught by: TestPubSub_Hub_Publish_EverySubscriberInOrder
//	// Caught with: -race
//
// "Caught with: -race" marks a mistake only the race detector reveals.
type mistake struct {
	Name     string            // the folder name
	What     string            // the "Mistake:" paragraph
	CaughtBy string            // the top-level test that must fail
	Race     bool              // it needs -race to be seen
	Files    map[string]string // solution file name → the wrong file's path
}

// mistakeRuns is how many times each mistake's test runs: a wrong answer
// must be rejected every time, not by luck.
const mistakeRuns = 3

// mistakeTimeLimit bounds how long the named test may take to fail: a wrong
// answer that hangs must fail within seconds, not at go test's timeout.
const mistakeTimeLimit = 15 * time.Second

// TestLessons_MistakesAreCaught applies each lesson's wrong answers to its
// solution, one at a time, and checks the named test fails on it, every run,
// within seconds. The two-way check proves a test notices missing work; this
// proves the tests notice the mistakes learners make.
func TestLessons_MistakesAreCaught(t *testing.T) {
	race := raceAvailable(t.Context())
	// The race detector reports a pair of stacks, and an address, once per
	// process; a mistake's test runs mistakeRuns times in one process, each
	// run must see its race, and a later run's map or struct is often
	// allocated where an earlier run's was.
	t.Setenv("GORACE", "suppress_equal_stacks=0 suppress_equal_addresses=0")
	for _, l := range discover(t) {
		mistakes, err := readMistakes(l)
		require.NoError(t, err)
		t.Run(l.ID, func(t *testing.T) {
			for _, m := range mistakes {
				t.Run(m.Name, func(t *testing.T) {
					// Many wrong answers fail only when a wait gives up, so
					// most of the time is waiting: run them side by side
					// (go test's -parallel, GOMAXPROCS by default).
					t.Parallel()
					checkMistake(t, l, m, race)
				})
			}
		})
	}
}

func readMistakes(l lessons.Lesson) ([]mistake, error) {
	dirs, err := filepath.Glob(filepath.Join(root, l.SolutionDir(), "testdata", "mistakes", "*"))
	if err != nil {
		return nil, err
	}
	var out []mistake
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			return nil, fmt.Errorf("%s: no .go files", dir)
		}
		sort.Strings(files)
		m := mistake{Name: filepath.Base(dir), Files: map[string]string{}}
		for _, f := range files {
			m.Files[filepath.Base(f)] = f
		}
		if err := m.readHeader(files[0]); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// readHeader reads the comment block that opens the mistake's first file.
func (m *mistake) readHeader(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var what []string
	inWhat := false
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "//")
		if !ok {
			break
		}
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "Mistake:"):
			inWhat = true
			what = append(what, strings.TrimSpace(strings.TrimPrefix(line, "Mistake:")))
		case strings.HasPrefix(line, "Caught by:"):
			m.CaughtBy = strings.TrimSpace(strings.TrimPrefix(line, "Caught by:"))
		case strings.HasPrefix(line, "Caught with:"):
			m.Race = strings.Contains(line, "-race")
		case line == "":
			inWhat = false
		case inWhat:
			what = append(what, line)
		}
	}
	m.What = strings.Join(what, " ")
	if m.What == "" || m.CaughtBy == "" {
		return fmt.Errorf("%s: the header comment needs a \"// Mistake: ...\" line and a \"// Caught by: TestX\" line", path)
	}
	return nil
}

func checkMistake(t *testing.T, l lessons.Lesson, m mistake, race bool) {
	_, _, listed := l.Meta.TaskOfTest(m.CaughtBy)
	require.True(t, listed, "mistake %s: %s is not on any task's \"Tests:\" line in %s/README.md", m.Name, m.CaughtBy, l.Dir())
	require.True(t, !m.Race || l.Meta.Race,
		"mistake %s is caught only with -race, but %s/README.md has no \"go test -race ./%s/\" line, so the runner would call it done",
		m.Name, l.Dir(), l.Dir())
	if m.Race && !race {
		t.Skipf("mistake %s is caught only with -race, and cgo is off here", m.Name)
	}
	replace := solutionOverlay(t, l)
	for name, path := range m.Files {
		target := filepath.Join(root, l.Dir(), name)
		_, isStub := replace[target]
		require.True(t, isStub, "mistake %s: %s is not one of the lesson's stub files", m.Name, name)
		replace[target] = path
	}
	args := []string{"-overlay", writeOverlay(t, replace), "-count", fmt.Sprint(mistakeRuns), "-run", "^" + m.CaughtBy + "$"}
	if m.Race {
		args = append(args, "-race")
	}
	rep, err := gotest.Run(context.Background(), root, append(args, l.Package())...)
	require.NoError(t, err)

	var runs, failed int
	for _, res := range rep.Tests {
		if res.Name != m.CaughtBy {
			continue
		}
		runs++
		if res.Outcome == "fail" {
			failed++
		}
		assert.LessOrEqual(t, res.Elapsed, mistakeTimeLimit.Seconds(),
			"mistake %s: %s took %.1fs to fail; a wrong answer must fail within seconds", m.Name, m.CaughtBy, res.Elapsed)
	}
	switch {
	case hung(rep, m.CaughtBy):
		// The harness's watchdog ended the binary under the test: it hung,
		// and the watchdog reported that as its failure.
	case runs == 0:
		t.Fatalf("mistake %s (%s): %s did not run; does the wrong answer compile?\n%s", m.Name, m.What, m.CaughtBy, rep.Output)
	case failed < runs:
		t.Errorf("mistake %s (%s): %s passed %d of %d runs; it must reject the wrong answer every time",
			m.Name, m.What, m.CaughtBy, runs-failed, runs)
	}
}

// hung reports whether the test binary ended while name was running: the
// harness's watchdog stopped a stuck test, or a panic ended the binary.
func hung(rep *gotest.Report, name string) bool {
	for _, res := range rep.Unfinished {
		if res.Name == name {
			return true
		}
	}
	return false
}
