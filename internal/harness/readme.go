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

// pointer is the last line of a failing test's output: the task whose
// "Tests:" line names the test (or, for a subtest, its top-level test).
func pointer(test string) string {
	meta, err := lessonMeta()
	if err != nil {
		return fmt.Sprintf("Re-read the lesson's README.md (the harness could not read it: %v).", err)
	}
	if task, _, ok := meta.TaskOfTest(test); ok {
		return fmt.Sprintf("This test checks %s: re-read README.md, %q.", strings.SplitN(task.Title, ":", 2)[0], task.Title)
	}
	top, _, _ := strings.Cut(test, "/")
	return fmt.Sprintf("Re-read the lesson's README.md (no task's \"Tests:\" line names %s).", top)
}

// See makes t, if it fails, end by pointing at the README task that lists it.
// Any other harness call does the same; See is for a test that makes none.
func See(t testing.TB) {
	t.Helper()
	track(t)
}
