// Package workbook is the learner-facing runner behind `go run ./cmd/workbook`:
// a progress table, the next failing test with its hint, watch mode,
// progressive hints, reset to the shipped stubs, the solution as a diff, and a
// verification summary for people and autograders.
//
// The lessons' own tests are the only source of truth: every command that
// reports progress runs `go test -json` on the lesson packages and reads the
// outcomes. Lesson metadata (titles, tasks, which tests check each task, and
// hints) comes from each lesson's README.md, through lessons.ParseREADME: the
// page the learner reads is the one the runner quotes, so they cannot drift.
package workbook

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/grpc-workbook/streaming/internal/lessons"
)

// Workbook runs the commands against one checkout of the workbook.
type Workbook struct {
	Root  string    // the repository root: the folder holding lessons/ and solutions/
	Stubs fs.FS     // the shipped stubs, one folder per lesson ("01-unary/server.go")
	In    io.Reader // answers to confirmation questions
	Out   io.Writer // everything the runner prints

	// Terminal says Out is a terminal: watch then clears the screen before
	// each redraw. Color turns on ANSI colours (a terminal, and NO_COLOR unset).
	Terminal bool
	Color    bool

	// Debounce is how long watch waits after a change for the editor to
	// finish saving before it re-runs. Zero re-runs at once.
	Debounce time.Duration

	in         *bufio.Reader
	cgo        *bool // `go env CGO_ENABLED` is 1; nil until a lesson asks for -race
	raceWarned bool  // the learner was told that -race cannot run here
	quiet      bool  // verify --json: print nothing but the JSON
	// The package's tests set these: the clock of `watch --poll`, which they
	// tick by hand, and a call after each run that watch draws.
	pollTicks <-chan time.Time
	afterRun  func(LessonResult)
}

// ErrNotDone is returned by verify when some lesson is not done; the command
// exits non-zero without printing more.
var ErrNotDone = errors.New("not every lesson is done")

// UsageError is a mistake on the command line; main prints it with a pointer
// to `workbook help` and exits 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// Usage is the text of `workbook help`.
const Usage = `The gRPC streaming workbook runner.

Usage: go run ./cmd/workbook [command] [arguments]

Commands:
  (none)                 show your progress, the next failing test, and a hint
  LESSON                 the same, with the next failing test of that lesson
  watch [LESSON]         re-run the current lesson each time you save a file in it
        --poll           look for changes every second, where saves go unnoticed
        --interval=1s    how often --poll looks
  hint LESSON [N]        show the next hint of the lesson's current task, or hint N
        --task=T         show the hints of task T instead
  reset LESSON [--yes]   put the lesson's files back as shipped (asks first unless
                         --yes); your versions are kept in .workbook/backup/
  reset --all [--yes]    the same for every lesson
  restore LESSON         put back the files the last reset (or restore) replaced
  solution LESSON        show how your files differ from the solution
        --yes            do not ask, even if the lesson is not done yet
  verify [LESSON]        run every lesson (or one) and list what still fails; exits
                         0 only when they are all done
        --json           print Exercism's results.json (version 3) for autograders
  play LESSON            serve the lesson on a real port (127.0.0.1, a free port) and
                         print a grpcurl and an evans command for each method
        --solution       serve the reference solution instead of your code
        --addr=HOST:PORT listen there instead
  help                   show this text

A LESSON is a number or a name: 2, 02, server-stream or 02-server-stream.
Progress comes from the lessons' tests; you can always run them yourself:
  go test -race ./lessons/01-unary/
`

// Run runs the command that args name (os.Args[1:]).
func (w *Workbook) Run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return w.status(ctx, "")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(w.Out, Usage)
		return nil
	case "status":
		switch len(rest) {
		case 0:
			return w.status(ctx, "")
		case 1:
			return w.status(ctx, rest[0])
		}
		return usagef("usage: go run ./cmd/workbook [status] [LESSON]")
	case "watch":
		return w.watchCmd(ctx, rest)
	case "hint":
		return w.hintCmd(ctx, rest)
	case "reset":
		return w.resetCmd(rest)
	case "restore":
		return w.restoreCmd(rest)
	case "solution":
		return w.solutionCmd(ctx, rest)
	case "verify":
		return w.verifyCmd(ctx, rest)
	case "play":
		return w.playCmd(ctx, rest)
	}
	if len(rest) == 0 && w.isLesson(cmd) {
		return w.status(ctx, cmd) // `workbook 7`: the next step in lesson 07
	}
	return usagef("unknown command %q; the commands are watch, hint, reset, restore, solution, verify, play and help, "+
		"or a lesson (7, 07, interceptors) for its next failing test", cmd)
}

func noArgs(cmd string, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments, got %q", cmd, strings.Join(args, " "))
	}
	return nil
}

// parsed is a command line split into flags and positional arguments.
type parsed struct {
	bools  map[string]bool
	values map[string]string
	args   []string
}

// parseArgs accepts flags anywhere, as -f or --f, and --name=value or
// --name value for the flags listed in values.
func parseArgs(cmd string, args []string, bools []string, values []string) (parsed, error) {
	p := parsed{bools: map[string]bool{}, values: map[string]string{}}
	known := func(list []string, name string) bool {
		for _, n := range list {
			if n == name {
				return true
			}
		}
		return false
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			p.args = append(p.args, a)
			continue
		}
		name := strings.TrimLeft(a, "-")
		value, hasValue := "", false
		if j := strings.IndexByte(name, '='); j >= 0 {
			name, value, hasValue = name[:j], name[j+1:], true
		}
		if name == "y" {
			name = "yes"
		}
		switch {
		case known(bools, name) && !hasValue:
			p.bools[name] = true
		case known(values, name):
			if !hasValue {
				if i+1 >= len(args) {
					return p, usagef("%s: --%s needs a value", cmd, name)
				}
				i++
				value = args[i]
			}
			p.values[name] = value
		default:
			return p, usagef("%s: unknown flag %s; see `go run ./cmd/workbook help`", cmd, a)
		}
	}
	return p, nil
}

// discover reads the lessons, failing clearly outside a workbook checkout.
func (w *Workbook) discover() ([]lessons.Lesson, error) {
	all, err := lessons.Discover(w.Root)
	if err != nil {
		return nil, fmt.Errorf("reading the lessons in %s: %w", w.Root, err)
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("no lessons found in %s/lessons", w.Root)
	}
	return all, nil
}

// find returns the lesson an argument names, or a usage error listing them.
// isLesson reports whether arg names a lesson.
func (w *Workbook) isLesson(arg string) bool {
	all, err := w.discover()
	if err != nil {
		return false
	}
	_, err = lessons.Find(all, arg)
	return err == nil
}

func (w *Workbook) find(arg string) (lessons.Lesson, []lessons.Lesson, error) {
	all, err := w.discover()
	if err != nil {
		return lessons.Lesson{}, nil, err
	}
	l, err := lessons.Find(all, arg)
	if err != nil {
		return lessons.Lesson{}, nil, &UsageError{Msg: err.Error()}
	}
	return l, all, nil
}

// confirm asks a yes/no question; anything but y or yes, or no answer at
// all, is no.
func (w *Workbook) confirm(question string) bool {
	fmt.Fprintf(w.Out, "%s [y/N] ", question)
	if w.in == nil {
		in := w.In
		if in == nil {
			in = strings.NewReader("")
		}
		w.in = bufio.NewReader(in)
	}
	line, _ := w.in.ReadString('\n')
	answer := strings.ToLower(strings.TrimSpace(line))
	if line == "" {
		fmt.Fprintln(w.Out)
	}
	return answer == "y" || answer == "yes"
}
