package workbook

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// validateV3 checks a results.json against the rules of Exercism's test
// runner interface, version 3, and returns it decoded.
func validateV3(t *testing.T, raw []byte) Results {
	t.Helper()
	var doc map[string]any
	require.NoError(t, json.Unmarshal(raw, &doc), "verify --json must print only JSON:\n%s", raw)
	assert.Equal(t, 3.0, doc["version"], "version is required, and 3 links tests to tasks")
	status, _ := doc["status"].(string)
	require.Contains(t, []string{"pass", "fail", "error"}, status, "status is required")
	message, hasMessage := doc["message"]
	if status == "error" {
		assert.NotEmpty(t, message, "status error requires a top-level message")
	} else {
		assert.False(t, hasMessage && message != nil, "a top-level message only with status error, got %v", message)
	}
	tests, ok := doc["tests"].([]any)
	if status != "error" {
		require.True(t, ok, "tests is required with status pass or fail")
	}
	failing := 0
	for _, raw := range tests {
		test := raw.(map[string]any)
		assert.NotEmpty(t, test["name"], "name is required")
		st, _ := test["status"].(string)
		assert.Contains(t, []string{"pass", "fail", "error"}, st, "per-test status is required: %v", test)
		if st != "pass" {
			failing++
		}
		for _, key := range []string{"message", "output", "test_code"} {
			if v, ok := test[key]; ok {
				assert.IsType(t, "", v, "%s is a string", key)
			}
		}
		if out, ok := test["output"].(string); ok {
			assert.LessOrEqual(t, utf8.RuneCountInString(out), 500, "output is capped at 500 characters")
		}
		if id, ok := test["task_id"]; ok {
			n, isNumber := id.(float64)
			assert.True(t, isNumber && n >= 1 && n == float64(int(n)), "task_id is a task number, from 1: %v", id)
		}
	}
	switch status {
	case "pass":
		assert.Zero(t, failing, "status pass: every test passed")
	case "fail":
		assert.NotZero(t, failing, "status fail: at least one test failed or errored")
	}
	var res Results
	require.NoError(t, json.Unmarshal(raw, &res))
	return res
}

func TestVerifyJSON_OneLessonDone_ValidV3_TestsLinkedToTasks(t *testing.T) {
	t.Parallel()
	w, out, root := fixture(t, "")
	solve(t, root, "01-alpha", "alpha.go")
	require.ErrorIs(t, w.Run(t.Context(), []string{"verify", "--json"}), ErrNotDone, "lesson 02 is not done")

	res := validateV3(t, []byte(out.String()))
	assert.Equal(t, "fail", res.Status)
	assert.Empty(t, res.Message)
	require.Len(t, res.Tests, 3)
	var names []string
	var tasks []int
	for _, test := range res.Tests {
		names, tasks = append(names, test.Name+" "+test.Status), append(tasks, test.TaskID)
	}
	assert.Equal(t, []string{"01-alpha/TestAlpha_Add pass", "01-alpha/TestAlpha_Greet pass", "02-beta/TestBeta_Double fail"}, names, "in README order")
	assert.Equal(t, []int{1, 2, 1}, tasks)
	assert.Equal(t, "if got := alpha.Add(2, 3); got != 5 {\n\tt.Fatalf(\"Add(2, 3): got %d, want 5; see README.md, \\\"Task 1: Add\\\"\", got)\n}", res.Tests[0].TestCode)
	assert.Contains(t, res.Tests[2].Message, "Double(4): got 0, want 8")
	assert.Equal(t, []LessonSummary{
		{ID: "01-alpha", Title: "Alpha: the first fixture", Done: true, Passed: 2, Total: 2},
		{ID: "02-beta", Title: "Beta", Done: false, Passed: 0, Total: 1},
	}, res.Lessons)
}

func TestVerifyJSON_EveryLessonDone_Pass_ExitZero(t *testing.T) {
	t.Parallel()
	w, out, root := fixture(t, "")
	solve(t, root, "01-alpha", "alpha.go")
	solve(t, root, "02-beta", "beta.go")
	require.NoError(t, w.Run(t.Context(), []string{"verify", "--json"}))
	res := validateV3(t, []byte(out.String()))
	assert.Equal(t, "pass", res.Status)
}

func TestVerify_OneLesson_ExitZeroWhenThatLessonIsDone(t *testing.T) {
	t.Parallel()
	w, out, root := fixture(t, "")
	solve(t, root, "01-alpha", "alpha.go")
	require.NoError(t, w.Run(t.Context(), []string{"verify", "alpha", "--json"}), "lesson 02 is not asked about")
	res := validateV3(t, []byte(out.Take()))
	assert.Len(t, res.Lessons, 1)
	assert.Len(t, res.Tests, 2)

	require.ErrorIs(t, w.Run(t.Context(), []string{"verify", "2"}), ErrNotDone)
	assert.Contains(t, out.Take(), "FAIL 02-beta/TestBeta_Double (Task 1: Double)")
}

func TestVerifyJSON_NothingCompiles_Error_WithMessage(t *testing.T) {
	t.Parallel()
	w, out, root := fixture(t, "")
	for name, pkg := range map[string]string{"01-alpha/alpha.go": "alpha", "02-beta/beta.go": "beta"} {
		require.NoError(t, os.WriteFile(filepath.Join(root, "lessons", name), []byte("package "+pkg+"\n\nfunc Broken() int { return \"x\" }\n"), 0o644))
	}
	require.ErrorIs(t, w.Run(t.Context(), []string{"verify", "--json"}), ErrNotDone)
	res := validateV3(t, []byte(out.String()))
	assert.Equal(t, "error", res.Status)
	assert.Contains(t, res.Message, "lessons/01-alpha does not compile")
	assert.Contains(t, res.Message, "beta.go:3")
}

func TestVerifyJSON_LongOutput_CappedWithNote(t *testing.T) {
	t.Parallel()
	w, out, root := fixture(t, "")
	long := strings.Repeat("é", 2000) // characters, not bytes, are counted
	require.NoError(t, os.WriteFile(filepath.Join(root, "lessons/01-alpha/alpha.go"),
		[]byte("package alpha\n\nfunc Add(a, b int) int { return a + b }\n\nfunc Greet(name string) string { return \""+long+"\" }\n"), 0o644))
	require.ErrorIs(t, w.Run(t.Context(), []string{"verify", "1", "--json"}), ErrNotDone)
	res := validateV3(t, []byte(out.String()))
	greet := res.Tests[1]
	assert.Equal(t, "fail", greet.Status)
	assert.Equal(t, 500, utf8.RuneCountInString(greet.Output))
	assert.True(t, strings.HasSuffix(greet.Output, "Output was truncated. Please limit to 500 chars."), greet.Output)
	assert.Contains(t, greet.Message, long, "the message is not capped")
}

// TestClassroomWorkflow_OneGradedStepPerLesson keeps the GitHub Classroom
// workflow in step with the lessons: each is graded by `verify NN`, and
// reported.
func TestClassroomWorkflow_OneGradedStepPerLesson(t *testing.T) {
	t.Parallel()
	workflow, err := os.ReadFile("../../.github/workflows/classroom.yml")
	require.NoError(t, err)
	entries, err := os.ReadDir("../../lessons")
	require.NoError(t, err)
	runners := regexp.MustCompile(`runners: (\S+)`).FindStringSubmatch(string(workflow))
	require.NotNil(t, runners, "the reporter step lists the graded steps")
	lessons := 0
	for _, e := range entries {
		if m := regexp.MustCompile(`^(\d\d)-`).FindStringSubmatch(e.Name()); e.IsDir() && m != nil {
			lessons++
			step := "command: go run ./cmd/workbook verify " + m[1] + "\n"
			report := "LESSON" + m[1] + "_RESULTS: \"${{steps.lesson" + m[1] + ".outputs.result}}\""
			assert.True(t, strings.Contains(string(workflow), step) && strings.Contains(string(workflow), report) &&
				slices.Contains(strings.Split(runners[1], ","), "lesson"+m[1]),
				"classroom.yml does not grade lessons/%s: give it a step like lesson 01's (id lesson%s), its %q line in the reporter's env, and lesson%s in its runners",
				e.Name(), m[1], report, m[1])
		}
	}
	assert.Equal(t, lessons, strings.Count(string(workflow), "uses: classroom-resources/autograding-command-grader@v1"))
}
