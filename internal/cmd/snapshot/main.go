// Command snapshot copies each lesson's stub files into internal/pristine, the
// copy built into the workbook that `reset` and the verification use. It runs
// from `go generate ./...` at the repository root. Run it after changing a
// stub, before the learner has touched it.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/grpc-workbook/streaming/internal/lessons"
	"github.com/grpc-workbook/streaming/internal/pristine"
)

func main() {
	if err := snapshot("."); err != nil {
		fmt.Fprintln(os.Stderr, "snapshot:", err)
		os.Exit(1)
	}
}

func snapshot(root string) error {
	all, err := lessons.Discover(root)
	if err != nil {
		return err
	}
	store := filepath.Join(root, pristine.Dir, "stubs")
	old, err := filepath.Glob(filepath.Join(store, "*"))
	if err != nil {
		return err
	}
	for _, dir := range old { // lesson folders only: stubs/README.md stays
		if info, err := os.Stat(dir); err == nil && info.IsDir() {
			if err := os.RemoveAll(dir); err != nil {
				return err
			}
		}
	}
	for _, l := range all {
		names, err := l.StubFiles(root)
		if err != nil {
			return err
		}
		for _, name := range names {
			data, err := os.ReadFile(filepath.Join(root, l.Dir(), name))
			if err != nil {
				return fmt.Errorf("lesson %s has a solution file %s but no stub of that name: %w", l.ID, name, err)
			}
			dst := filepath.Join(store, l.ID, name+pristine.Suffix)
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(dst, data, 0o644); err != nil {
				return err
			}
			fmt.Println("stored", filepath.ToSlash(dst))
		}
	}
	return nil
}
