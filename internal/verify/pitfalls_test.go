package verify

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-workbook/streaming/internal/gotest"
	"github.com/grpc-workbook/streaming/internal/lessons"
)

// Pitfall is one plausible wrong answer, written as a change to the reference
// solution, and the test that must reject it. A lesson lists its pitfalls in
// solutions/NN-slug/pitfalls.json.
type Pitfall struct {
	Pitfall  string `json:"pitfall"`   // the mistake, as the README's "Common mistakes" names it
	File     string `json:"file"`      // a solution file, "server.go"
	Replace  string `json:"replace"`   // text that occurs exactly once in that file
	With     string `json:"with"`      // what the wrong answer has instead
	CaughtBy string `json:"caught_by"` // the top-level test that must fail
}

// TestLessons_PitfallsAreCaught applies each lesson's listed wrong answers to
// its solution, one at a time, and checks the named test fails on it. The
// two-way check proves a test notices missing work; this proves it notices
// the mistakes the curriculum names.
func TestLessons_PitfallsAreCaught(t *testing.T) {
	for _, l := range discover(t) {
		pitfalls, err := readPitfalls(l)
		if errors.Is(err, fs.ErrNotExist) {
			continue // a lesson may have none yet
		}
		require.NoError(t, err, "%s/pitfalls.json", l.SolutionDir())
		t.Run(l.ID, func(t *testing.T) {
			for _, p := range pitfalls {
				t.Run(p.CaughtBy, func(t *testing.T) {
					// Many wrong answers fail only at a test's fail-safe
					// deadline, so most of the time is waiting: run them
					// side by side (go test's -parallel, GOMAXPROCS by default).
					t.Parallel()
					checkPitfall(t, l, p)
				})
			}
		})
	}
}

func readPitfalls(l lessons.Lesson) ([]Pitfall, error) {
	data, err := os.ReadFile(filepath.Join(root, l.SolutionDir(), "pitfalls.json"))
	if err != nil {
		return nil, err
	}
	var pitfalls []Pitfall
	return pitfalls, json.Unmarshal(data, &pitfalls)
}

func checkPitfall(t *testing.T, l lessons.Lesson, p Pitfall) {
	solution, err := os.ReadFile(filepath.Join(root, l.SolutionDir(), p.File))
	require.NoError(t, err, "pitfall %q names file %s", p.Pitfall, p.File)
	require.Equal(t, 1, strings.Count(string(solution), p.Replace),
		"pitfall %q: its replace text must occur exactly once in %s/%s", p.Pitfall, l.SolutionDir(), p.File)

	wrong := filepath.Join(t.TempDir(), p.File)
	require.NoError(t, os.WriteFile(wrong, []byte(strings.Replace(string(solution), p.Replace, p.With, 1)), 0o644))
	replace := solutionOverlay(t, l)
	replace[filepath.Join(root, l.Dir(), p.File)] = wrong

	rep, err := gotest.Run(context.Background(), root,
		"-overlay", writeOverlay(t, replace), "-count=1", "-run", "^"+p.CaughtBy+"$", l.Package())
	require.NoError(t, err)
	outcome := rep.Outcomes()[p.CaughtBy]
	if outcome == "" {
		t.Fatalf("pitfall %q: %s did not run; does the wrong answer compile?\n%s", p.Pitfall, p.CaughtBy, rep.Output)
	}
	assert.Equal(t, "fail", outcome, "pitfall %q: %s should reject it", p.Pitfall, p.CaughtBy)
}
