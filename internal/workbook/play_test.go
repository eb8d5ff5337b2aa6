package workbook

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The fixture's play program (testdata/fixture/internal/play/01-alpha)
// prints the lesson's Greet("play") and its arguments.

func TestPlay_YourCode_BuildsAndRunsTheLessonsProgram(t *testing.T) {
	t.Parallel()
	w, out, _ := fixture(t, "")
	require.NoError(t, w.Run(t.Context(), []string{"play", "1", "--addr", "127.0.0.1:5005"}))
	assert.Contains(t, out.String(), `Greet: ""; args: ["--code" "yours" "--addr" "127.0.0.1:5005"]`, "the stub's greeting")
}

func TestPlay_Solution_ServesTheReference_YourFilesUntouched(t *testing.T) {
	t.Parallel()
	w, out, root := fixture(t, "")
	mine := filepath.Join(root, "lessons", "01-alpha", "alpha.go")
	before, err := os.ReadFile(mine)
	require.NoError(t, err)

	require.NoError(t, w.Run(t.Context(), []string{"play", "alpha", "--solution"}))
	assert.Contains(t, out.String(), `Greet: "Hello, play!"; args: ["--code" "solution"]`, "the solution's greeting")
	after, err := os.ReadFile(mine)
	require.NoError(t, err)
	assert.Equal(t, string(before), string(after), "the learner's file")
}

func TestPlay_NoProgram_SaysSoPlainly(t *testing.T) {
	t.Parallel()
	w, _, _ := fixture(t, "")
	err := w.Run(t.Context(), []string{"play", "2"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "lesson 02-beta has no playground yet")
}

func TestPlay_BadCommandLines_AreUsageErrors(t *testing.T) {
	t.Parallel()
	w, _, _ := fixture(t, "")
	for _, args := range [][]string{{"play"}, {"play", "1", "2"}, {"play", "1", "--port", "3"}, {"play", "9"}, {"play", "1", "--addr"}} {
		var usage *UsageError
		assert.ErrorAs(t, w.Run(t.Context(), args), &usage, "%q", args)
	}
}

func TestPlay_YourCodeDoesNotBuild_ShowsTheCompiler(t *testing.T) {
	t.Parallel()
	w, _, root := fixture(t, "")
	require.NoError(t, os.WriteFile(filepath.Join(root, "lessons", "01-alpha", "alpha.go"),
		[]byte("package alpha\n\nfunc Greet(name string) string { return 1 }\n"), 0o644))
	err := w.Run(t.Context(), []string{"play", "1"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "your code in lessons/01-alpha does not build")
	assert.Contains(t, err.Error(), "alpha.go:3", "the compiler's message, with the line")
}

func TestPlay_ProgramFails_ItsExitIsAnError(t *testing.T) {
	t.Parallel()
	w, _, _ := fixture(t, "")
	err := w.Run(t.Context(), []string{"play", "1", "--addr", "fail"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "exit status 3")
}

// notify is a Writer that closes seen once what was written contains want.
type notify struct {
	syncBuffer
	want string
	seen chan struct{}
}

func (n *notify) Write(p []byte) (int, error) {
	k, err := n.syncBuffer.Write(p)
	if strings.Contains(n.String(), n.want) && n.seen != nil {
		close(n.seen)
		n.seen = nil
	}
	return k, err
}

// When only the runner hears Ctrl-C (its context ends), it passes the
// interrupt on, and a program that then stops cleanly is a clean end.
func TestPlay_Interrupt_PassedOn_CleanStopIsNoError(t *testing.T) {
	t.Parallel()
	w, _, _ := fixture(t, "")
	out := &notify{want: "Waiting for Ctrl-C.", seen: make(chan struct{})}
	w.Out = out
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	seen := out.seen
	done := make(chan error)
	go func() { done <- w.Run(ctx, []string{"play", "1", "--addr", "wait"}) }()
	select {
	case <-seen:
	case err := <-done:
		t.Fatalf("play ended before the program waited: %v\n%s", err, out.String())
	}
	cancel()
	require.NoError(t, <-done)
	assert.Contains(t, out.String(), "Interrupted: stopping cleanly.")
}
