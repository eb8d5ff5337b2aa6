package workbook

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/grpc-workbook/streaming/internal/lessons"
)

// playCmd is `play LESSON [--solution] [--addr HOST:PORT]`: it builds the
// lesson's play program (internal/play/NN-slug), with the solution in place
// of the learner's files when --solution is given (a build overlay: nothing
// on disk changes), and runs it until Ctrl-C.
func (w *Workbook) playCmd(ctx context.Context, args []string) error {
	p, err := parseArgs("play", args, []string{"solution"}, []string{"addr"})
	if err != nil {
		return err
	}
	if len(p.args) != 1 {
		return usagef("usage: go run ./cmd/workbook play LESSON [--solution] [--addr HOST:PORT], for example `play 5 --solution`")
	}
	l, _, err := w.find(p.args[0])
	if err != nil {
		return err
	}
	pkg := "./" + filepath.ToSlash(filepath.Join("internal", "play", l.ID))
	if _, err := os.Stat(filepath.Join(w.Root, "internal", "play", l.ID, "main.go")); err != nil {
		return fmt.Errorf("lesson %s has no playground yet (there is no %s/main.go)", l.ID, pkg)
	}

	tmp, err := os.MkdirTemp("", "workbook-play-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	build := []string{"build", "-o", filepath.Join(tmp, "play")}
	code := "yours"
	if p.bools["solution"] {
		overlay, err := writeOverlay(w.Root, l, tmp)
		if err != nil {
			return err
		}
		build = append(build, "-overlay", overlay)
		code = "solution"
	}
	fmt.Fprintf(w.Out, "Building %s...\n", pkg)
	b := exec.CommandContext(ctx, "go", append(build, pkg)...)
	b.Dir = w.Root
	if out, err := b.CombinedOutput(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		where := "your code in lessons/" + l.ID
		if code == "solution" {
			where = "the play program with the solution"
		}
		return fmt.Errorf("%s does not build:\n%s", where, out)
	}

	run := []string{"--code", code}
	if addr, ok := p.values["addr"]; ok {
		run = append(run, "--addr", addr)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(tmp, "play"), run...)
	cmd.Dir = w.Root
	cmd.Stdout, cmd.Stderr = w.Out, w.Out
	// Ctrl-C reaches the program from the terminal too; when only the
	// runner hears it, pass it on, so the program shuts down the way the
	// lesson teaches. Stop it hard only if it is still running long after.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 15 * time.Second
	err = cmd.Run()
	switch {
	case cmd.ProcessState != nil && cmd.ProcessState.Success():
		return nil // also after Ctrl-C: the program shut down cleanly
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return fmt.Errorf("the play program for lesson %s: %w", l.ID, err)
}

// writeOverlay writes the overlay file that puts l's solution in place of
// its stubs, in dir, and returns its path.
func writeOverlay(root string, l lessons.Lesson, dir string) (string, error) {
	replace, err := l.SolutionOverlay(root)
	if err != nil {
		return "", err
	}
	data, err := json.Marshal(map[string]any{"Replace": replace})
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "overlay.json")
	return path, os.WriteFile(path, data, 0o644)
}
