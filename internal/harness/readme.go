package harness

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/grpc-workbook/streaming/internal/lessons"
)

// Every failing test ends by naming the task it checks and the README section
// to re-read. The harness finds that task itself, by the test's name, in the
// "Tests:" lines of the README.md beside the test (go test runs a package's
// tests in its folder), so no test declares task names of its own.

var readme struct {
	once sync.Once
	meta lessons.Meta
	err  error
}

func lessonMeta() (lessons.Meta, error) {
	readme.once.Do(func() {
		data, err := os.ReadFile("README.md")
		if err != nil {
			readme.err = err
			return
		}
		readme.meta, readme.err = lessons.ParseREADME(data)
	})
	return readme.meta, readme.err
}

// taskOf returns the README task that lists t's top-level test.
func taskOf(t testing.TB) (lessons.Task, bool) {
	meta, err := lessonMeta()
	if err != nil {
		return lessons.Task{}, false
	}
	task, _, ok := meta.TaskOfTest(t.Name())
	return task, ok
}

// pointer is the last line of a failing test's output.
func pointer(t testing.TB) string {
	if task, ok := taskOf(t); ok {
		return fmt.Sprintf("This test checks %s: re-read README.md, %q.", strings.SplitN(task.Title, ":", 2)[0], task.Title)
	}
	if _, err := lessonMeta(); err != nil {
		return fmt.Sprintf("Re-read the lesson's README.md (the harness could not read it: %v).", err)
	}
	top, _, _ := strings.Cut(t.Name(), "/")
	return fmt.Sprintf("Re-read the lesson's README.md (no task's \"Tests:\" line names %s).", top)
}

// tracked holds the tests that already have their pointer registered.
var tracked sync.Map // testing.TB → struct{}

// track makes a failing t end with its README pointer. Every harness function
// that takes a test calls it, so a test that uses the harness at all points
// at its task; See does it for a test that uses nothing else.
func track(t testing.TB) {
	if _, loaded := tracked.LoadOrStore(t, struct{}{}); loaded {
		return
	}
	t.Cleanup(func() {
		tracked.Delete(t)
		if t.Failed() {
			t.Log(pointer(t))
		}
	})
}

// See makes t, if it fails, end by pointing at the README task that lists it.
// Any other harness call does the same; See is for a test that makes none.
func See(t testing.TB) { track(t) }
