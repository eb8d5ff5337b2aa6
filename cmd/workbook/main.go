// Command workbook is the workbook's runner: run it from anywhere in the
// repository with
//
//	go run ./cmd/workbook
//
// to see your progress and the next failing test. `go run ./cmd/workbook help`
// lists the other commands (watch, hint, reset, restore, solution, verify, play).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/grpc-workbook/streaming/internal/pristine"
	"github.com/grpc-workbook/streaming/internal/workbook"
)

func main() {
	os.Exit(run())
}

func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	root, err := findRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "workbook:", err)
		return 1
	}
	terminal := isTerminal(os.Stdout)
	w := &workbook.Workbook{
		Root:     root,
		Stubs:    pristine.Stubs(),
		In:       os.Stdin,
		Out:      os.Stdout,
		Terminal: terminal,
		Color:    terminal && os.Getenv("NO_COLOR") == "",
		// An editor's save is a few writes within milliseconds (a temporary
		// file, a rename); waiting longer only delays the answer.
		Debounce: 50 * time.Millisecond,
	}
	err = w.Run(ctx, os.Args[1:])
	var usage *workbook.UsageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, workbook.ErrNotDone):
		return 1
	case errors.As(err, &usage):
		fmt.Fprintf(os.Stderr, "workbook: %v\nRun `go run ./cmd/workbook help` for the commands.\n", err)
		return 2
	case errors.Is(err, context.Canceled):
		return 130
	default:
		fmt.Fprintln(os.Stderr, "workbook:", err)
		return 1
	}
}

// findRoot walks up from the working directory to the folder holding go.mod
// and lessons/.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if isFile(filepath.Join(dir, "go.mod")) && isDir(filepath.Join(dir, "lessons")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run me inside the workbook: no folder above here holds go.mod and lessons/")
		}
		dir = parent
	}
}

func isFile(p string) bool { fi, err := os.Stat(p); return err == nil && fi.Mode().IsRegular() }
func isDir(p string) bool  { fi, err := os.Stat(p); return err == nil && fi.IsDir() }

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
