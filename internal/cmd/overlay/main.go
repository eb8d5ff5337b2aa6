// Command overlay writes a `go test -overlay` file that puts a lesson's
// reference solution (or one of its mistakes) in place of its stubs, and
// prints the file's path, for authors running a lesson's tests by hand:
//
//	go test -overlay "$(go run ./internal/cmd/overlay 01)" ./lessons/01-unary/
//	go test -overlay "$(go run ./internal/cmd/overlay 05 blocking-offer)" -run TestX ./lessons/05-pubsub/
//
// The learner's files are never touched: the overlay only changes what the
// go command compiles.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/grpc-workbook/streaming/internal/lessons"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "overlay:", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	if len(args) < 1 || len(args) > 2 {
		return fmt.Errorf("usage: go run ./internal/cmd/overlay LESSON [MISTAKE]")
	}
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	all, err := lessons.Discover(root)
	if err != nil {
		return err
	}
	l, err := lessons.Find(all, args[0])
	if err != nil {
		return err
	}
	replace, err := l.SolutionOverlay(root)
	if err != nil {
		return err
	}
	if len(args) == 2 {
		wrong, err := filepath.Glob(filepath.Join(root, l.SolutionDir(), "testdata", "mistakes", args[1], "*.go"))
		if err != nil || len(wrong) == 0 {
			return fmt.Errorf("no mistake %q in %s/testdata/mistakes", args[1], l.SolutionDir())
		}
		for _, w := range wrong {
			replace[filepath.Join(root, l.Dir(), filepath.Base(w))] = w
		}
	}
	data, err := json.Marshal(map[string]any{"Replace": replace})
	if err != nil {
		return err
	}
	f, err := os.CreateTemp("", "overlay-*.json")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Println(f.Name())
	return nil
}
