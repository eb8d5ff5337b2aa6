package lessons

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// A lesson's README.md is the one source of its title, its tasks, which
// tests check each task, and each task's hints. The runner, the test harness
// (to point a failing test at its task) and the verification all read it
// through ParseREADME, so no second copy can drift.
//
// The shape it reads:
//
//	# Lesson 01: Unary calls, status codes and deadlines
//	...
//	## Task 1: Dial the in-memory server
//	...
//	Tests: `TestUnary_DialInMemory_ReachesServer`, `TestOther`
//	...
//	<details><summary>Hint 1</summary>
//
//	The hint, in Markdown.
//	</details>
//
// A task's section runs to the next "## " heading. The "Tests:" paragraph
// may wrap over several lines.

var (
	titleLine = regexp.MustCompile(`^# Lesson \d\d: (.+)$`)
	taskLine  = regexp.MustCompile(`^## Task (\d+): (.+)$`)
	hintOpen  = regexp.MustCompile(`^<details><summary>Hint (\d+)</summary>\s*$`)
	testName  = regexp.MustCompile("`(Test[A-Za-z0-9_]+)`")
)

// ParseREADME reads a lesson README's title and tasks.
func ParseREADME(readme []byte) (Meta, error) {
	var (
		meta    Meta
		task    *Task
		inTests bool // inside the "Tests:" paragraph
		hint    *strings.Builder
		fence   bool // inside a ``` code block
	)
	sc := bufio.NewScanner(bytes.NewReader(readme))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if hint != nil { // inside a hint: everything up to </details> is its text
			if strings.TrimSpace(line) == "</details>" {
				task.Hints = append(task.Hints, strings.TrimSpace(hint.String()))
				hint = nil
				continue
			}
			hint.WriteString(line + "\n")
			continue
		}
		if strings.Contains(line, "go test -race ./lessons/") {
			meta.Race = true
		}
		if strings.HasPrefix(line, "```") {
			fence = !fence
		}
		if fence {
			continue
		}
		if m := titleLine.FindStringSubmatch(line); m != nil && meta.Title == "" {
			meta.Title = m[1]
			continue
		}
		if strings.HasPrefix(line, "## ") {
			task, inTests = nil, false
			m := taskLine.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			if want := len(meta.Tasks) + 1; m[1] != strconv.Itoa(want) {
				return Meta{}, fmt.Errorf("line %d: %q: want Task %d here (tasks are numbered from 1, in order)", n, line, want)
			}
			meta.Tasks = append(meta.Tasks, Task{Title: "Task " + m[1] + ": " + m[2]})
			task = &meta.Tasks[len(meta.Tasks)-1]
			continue
		}
		if task == nil {
			continue
		}
		if strings.HasPrefix(line, "Tests:") {
			inTests = true
		} else if strings.TrimSpace(line) == "" {
			inTests = false
		}
		if inTests {
			for _, m := range testName.FindAllStringSubmatch(line, -1) {
				task.Tests = append(task.Tests, m[1])
			}
			continue
		}
		if m := hintOpen.FindStringSubmatch(line); m != nil {
			if want := len(task.Hints) + 1; m[1] != strconv.Itoa(want) {
				return Meta{}, fmt.Errorf("line %d: %s has Hint %s where Hint %d should be", n, task.Title, m[1], want)
			}
			hint = &strings.Builder{}
		}
	}
	if hint != nil {
		return Meta{}, fmt.Errorf("%s: a hint has no closing </details>", task.Title)
	}
	if meta.Title == "" {
		return Meta{}, fmt.Errorf(`no title line "# Lesson NN: Title"`)
	}
	return meta, nil
}

// TaskOfTest returns the task whose "Tests:" line names test (or, for a
// subtest "TestX/case", its top-level test).
func (m Meta) TaskOfTest(test string) (Task, int, bool) {
	if i := strings.IndexByte(test, '/'); i >= 0 {
		test = test[:i]
	}
	for i, task := range m.Tasks {
		for _, name := range task.Tests {
			if name == test {
				return task, i, true
			}
		}
	}
	return Task{}, -1, false
}
