// Package lessons finds the workbook's lessons and reads their metadata.
//
// A lesson is a folder lessons/NN-slug holding a README.md (the one source of
// its title, tasks, test-to-task map and hints; see ParseREADME), a
// .proto with its generated code in a sub-package, the stub files the learner
// edits, and tests. Its reference answer is solutions/NN-slug: the same stub
// file names, filled in. Nothing else needs registering: a new folder of that
// shape is a new lesson for the runner and for the verification tests alike.
package lessons

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Lesson is one lesson folder.
type Lesson struct {
	ID     string // the folder name, "01-unary"
	Number int    // 1
	Slug   string // "unary"
	Meta   Meta   // from README.md
}

// Meta is what a lesson's README.md says of its tasks.
type Meta struct {
	Title string // "Unary calls, status codes and deadlines"
	Tasks []Task // in the order the README teaches them
	// Race is set when the README tells the learner to run the lesson's
	// tests with -race (a line "go test -race ./lessons/NN-slug/"): the
	// lesson is about concurrency, and a data race must not read as done.
	Race bool
}

// Task is one numbered task of a lesson.
type Task struct {
	// Title is the task's heading in the lesson README, "Task 1: Dial the
	// in-memory server"; tests name it when they fail.
	Title string
	// Tests are the top-level tests that check this task, from its "Tests:"
	// line. Every test of the lesson belongs to exactly one task.
	Tests []string
	// Hints are progressive: a nudge first, then the API to use, then
	// nearly the answer. Each is the Markdown of one <details> block.
	Hints []string
}

var folderName = regexp.MustCompile(`^(\d\d)-([a-z0-9-]+)$`)

// Dir is the lesson's folder, relative to the repository root.
func (l Lesson) Dir() string { return filepath.Join("lessons", l.ID) }

// SolutionDir is the folder of the lesson's reference answer.
func (l Lesson) SolutionDir() string { return filepath.Join("solutions", l.ID) }

// Package is the lesson's Go package pattern for `go test`, "./lessons/01-unary".
func (l Lesson) Package() string { return "./lessons/" + l.ID }

// Discover returns the lessons below root, in order.
func Discover(root string) ([]Lesson, error) {
	entries, err := os.ReadDir(filepath.Join(root, "lessons"))
	if err != nil {
		return nil, err
	}
	var found []Lesson
	for _, e := range entries {
		m := folderName.FindStringSubmatch(e.Name())
		if !e.IsDir() || m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		l := Lesson{ID: e.Name(), Number: n, Slug: m[2]}
		data, err := os.ReadFile(filepath.Join(root, l.Dir(), "README.md"))
		if err != nil {
			return nil, fmt.Errorf("lesson %s: %w", l.ID, err)
		}
		if l.Meta, err = ParseREADME(data); err != nil {
			return nil, fmt.Errorf("lesson %s: README.md: %w", l.ID, err)
		}
		found = append(found, l)
	}
	sort.Slice(found, func(i, j int) bool { return found[i].Number < found[j].Number })
	return found, nil
}

// StubFiles returns the names of the files the learner edits: the Go files of
// the lesson's solution folder, tests excluded.
func (l Lesson) StubFiles(root string) ([]string, error) {
	matches, err := filepath.Glob(filepath.Join(root, l.SolutionDir(), "*.go"))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, m := range matches {
		if name := filepath.Base(m); !strings.HasSuffix(name, "_test.go") {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("lesson %s: no solution files in %s", l.ID, l.SolutionDir())
	}
	return names, nil
}

// SolutionOverlay returns the Replace map of a `go build -overlay` file that
// puts the lesson's solution in place of its stubs: each stub file's absolute
// path, mapped to its solution's. The learner's files are not touched; only
// what the go command compiles changes.
func (l Lesson) SolutionOverlay(root string) (map[string]string, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	names, err := l.StubFiles(root)
	if err != nil {
		return nil, err
	}
	replace := map[string]string{}
	for _, name := range names {
		replace[filepath.Join(root, l.Dir(), name)] = filepath.Join(root, l.SolutionDir(), name)
	}
	return replace, nil
}

// Find returns the lesson that arg names: a number ("2", "02"), a folder name
// ("02-server-stream") or a slug ("server-stream").
func Find(all []Lesson, arg string) (Lesson, error) {
	for _, l := range all {
		if arg == l.ID || arg == l.Slug {
			return l, nil
		}
		if n, err := strconv.Atoi(arg); err == nil && n == l.Number {
			return l, nil
		}
	}
	var names []string
	for _, l := range all {
		names = append(names, fmt.Sprintf("%d (%s)", l.Number, l.ID))
	}
	return Lesson{}, fmt.Errorf("no lesson %q; the lessons are %s", arg, strings.Join(names, ", "))
}
