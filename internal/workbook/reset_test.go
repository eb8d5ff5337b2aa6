package workbook

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readFile returns a file's text, or "" when it cannot be read.
func readFile(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(name)
	assert.NoError(t, err)
	return string(data)
}

// backups lists lesson 01's backup folders, oldest first.
func backups(t *testing.T, root string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(root, ".workbook/backup/01-alpha"))
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestReset_BacksUpYourFiles_RestoreBringsThemBack_AndAgainUndoes(t *testing.T) {
	t.Parallel()
	w, out, root := fixture(t, "")
	alpha := filepath.Join(root, "lessons/01-alpha/alpha.go")
	shipped := readFile(t, alpha)
	mine := shipped + "\n// my work in progress\n"
	require.NoError(t, os.WriteFile(alpha, []byte(mine), 0o644))

	require.NoError(t, w.Run(t.Context(), []string{"reset", "1", "--yes"}))
	got := out.Take()
	assert.Equal(t, shipped, readFile(t, alpha))
	require.Len(t, backups(t, root), 1)
	first := backups(t, root)[0]
	assert.Regexp(t, regexp.MustCompile(`^\d{8}-\d{6}\.\d{3}$`), first, "backups are named by time")
	assert.Equal(t, mine, readFile(t, filepath.Join(root, ".workbook/backup/01-alpha", first, "alpha.go")))
	assert.Contains(t, got, "restored lessons/01-alpha/alpha.go as shipped")
	assert.Contains(t, got, "Your previous versions are in .workbook/backup/01-alpha/"+first+"/")
	assert.Contains(t, got, "go run ./cmd/workbook restore 01")

	require.NoError(t, w.Run(t.Context(), []string{"restore", "alpha"}))
	got = out.Take()
	assert.Equal(t, mine, readFile(t, alpha), "restore puts the newest backup back")
	assert.Contains(t, got, "restored lessons/01-alpha/alpha.go from .workbook/backup/01-alpha/"+first)
	require.Len(t, backups(t, root), 2, "restore backs up what it replaces")

	require.NoError(t, w.Run(t.Context(), []string{"restore", "1"}))
	assert.Equal(t, shipped, readFile(t, alpha), "restoring again undoes the restore")
}

func TestReset_FilesAsShipped_NoBackup(t *testing.T) {
	t.Parallel()
	w, out, root := fixture(t, "")
	require.NoError(t, w.Run(t.Context(), []string{"reset", "1", "--yes"}))
	assert.Empty(t, backups(t, root), "nothing of the learner's to keep")
	assert.NotContains(t, out.Take(), "previous versions")

	require.NoError(t, w.Run(t.Context(), []string{"restore", "1"}))
	assert.Contains(t, out.Take(), "Lesson 01-alpha has no backup to restore")
}

func TestReset_HintsStartOver(t *testing.T) {
	t.Parallel()
	w, out, _ := fixture(t, "")
	require.NoError(t, w.Run(t.Context(), []string{"hint", "1"}))
	require.NoError(t, w.Run(t.Context(), []string{"hint", "1"}))
	require.Contains(t, out.Take(), "Hint 2 of 2")

	require.NoError(t, w.Run(t.Context(), []string{"reset", "1", "--yes"}))
	require.NoError(t, w.Run(t.Context(), []string{"hint", "1"}))
	got := out.Take()
	assert.Contains(t, got, "Hint 1 of 2: add hint one")
	assert.NotContains(t, got, "Hint 2 of 2", "a reset lesson's hints start from the first")
}

func TestHint_DoneLessonOrAnyTask_StillShown(t *testing.T) {
	t.Parallel()
	w, out, root := fixture(t, "")
	solve(t, root, "01-alpha", "alpha.go")

	require.NoError(t, w.Run(t.Context(), []string{"hint", "1", "1"}))
	got := out.Take()
	assert.Contains(t, got, "Lesson 01-alpha is done")
	assert.Contains(t, got, "Task 2: Greet")
	assert.Contains(t, got, "Hint 1 of 1: greet hint one")

	require.NoError(t, w.Run(t.Context(), []string{"hint", "1", "2", "--task", "1"}))
	got = out.Take()
	assert.Contains(t, got, "Task 1: Add")
	assert.Contains(t, got, "Hint 2 of 2:\n"+multiLineHint+"\n", "word for word as the README has it")
	assert.NotContains(t, got, "add hint one")

	require.NoError(t, w.Run(t.Context(), []string{"hint", "1", "--task=1"}))
	got = out.Take()
	assert.Contains(t, got, "Hint 1 of 2: add hint one", "--task without N: all of the task's hints")
	assert.Contains(t, got, "Hint 2 of 2:")

	var usage *UsageError
	require.ErrorAs(t, w.Run(t.Context(), []string{"hint", "1", "--task", "3"}), &usage)
	assert.Contains(t, usage.Msg, "1 to 2")
	require.ErrorAs(t, w.Run(t.Context(), []string{"hint", "1", "2"}), &usage)
	assert.Contains(t, usage.Msg, "has 1 hint, not 2")
}
