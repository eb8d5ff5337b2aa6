// Package gotest runs `go test -json` and gathers its events into results
// per test. The verification tests and the workbook runner both read test
// outcomes through it.
package gotest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"sort"
	"strings"
)

// Event is one line of `go test -json` output (see `go doc test2json`).
type Event struct {
	Action     string // start, run, pause, cont, pass, fail, skip, output, bench, build-output, build-fail
	Package    string
	ImportPath string // set on build-output and build-fail events
	Test       string
	Output     string
	Elapsed    float64
	// FailedBuild is set on a package's fail event when its test binary did
	// not build: the import path whose build-output explains why.
	FailedBuild string
}

// Result is the outcome of one test or subtest.
type Result struct {
	Package string  // the import path of the test's package
	Name    string  // "TestX", or "TestX/sub" for a subtest
	Outcome string  // "pass", "fail" or "skip"
	Output  string  // everything the test printed, including its failure messages
	Elapsed float64 // seconds
}

// Top reports whether the result is a top-level test rather than a subtest.
func (r Result) Top() bool { return !strings.Contains(r.Name, "/") }

// Report is what one `go test -json` run said about its packages, merged.
type Report struct {
	Tests   []Result // in the order they finished; with -count > 1 a test appears once per run
	Output  string   // output not tied to a test: build errors, panics, goleak reports
	Failed  bool     // some package failed (tests, build or setup)
	RawJSON []byte   // the full event stream, for debugging

	// Packages says, per import path, what each package printed outside its
	// tests (build errors included) and whether it failed.
	Packages map[string]*Package

	// Unfinished are the tests that started but have no pass, fail or skip
	// event, in the order they started: the test binary exited under them (a
	// panic on another goroutine, -timeout, an os.Exit such as the harness
	// watchdog's). Their Outcome is ""; Output is what they printed, which
	// holds the panic or the diagnosis.
	Unfinished []Result
}

// Package is what one package of a run printed outside its tests.
type Package struct {
	Output      string // build errors, panics, goleak reports, the final ok/FAIL line
	Failed      bool   // the package failed: a test, its build, or its TestMain
	BuildFailed bool   // its test binary did not compile
}

// pkg returns the entry for an import path, creating it.
func (r *Report) pkg(path string) *Package {
	if r.Packages == nil {
		r.Packages = map[string]*Package{}
	}
	p := r.Packages[path]
	if p == nil {
		p = &Package{}
		r.Packages[path] = p
	}
	return p
}

// buildPath turns a build event's ImportPath, "x/y [x/y.test]", into the
// package's import path, "x/y".
func buildPath(importPath string) string {
	if i := strings.Index(importPath, " ["); i >= 0 {
		return importPath[:i]
	}
	return importPath
}

// Run runs `go test -json args...` in dir and parses what it prints. A
// failing test is a result, not an error: err is only for a go command that
// could not start at all.
func Run(ctx context.Context, dir string, args ...string) (*Report, error) {
	cmd := exec.CommandContext(ctx, "go", append([]string{"test", "-json"}, args...)...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	if _, ok := runErr.(*exec.ExitError); runErr != nil && !ok {
		return nil, runErr
	}
	rep := Parse(bytes.NewReader(stdout.Bytes()))
	rep.RawJSON = stdout.Bytes()
	if stderr.Len() > 0 {
		rep.Output += stderr.String()
	}
	if runErr != nil {
		rep.Failed = true
	}
	return rep, nil
}

// Parse reads a `go test -json` event stream.
func Parse(r io.Reader) *Report {
	rep := &Report{}
	output := map[string]*strings.Builder{} // per "package test"
	var running []Event                     // run events not yet ended
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var ev Event
		if err := json.Unmarshal(line, &ev); err != nil {
			rep.Output += string(line) + "\n" // a line that is not an event: keep it
			continue
		}
		key := ev.Package + " " + ev.Test
		switch ev.Action {
		case "run":
			running = append(running, ev)
		case "build-output":
			rep.Output += ev.Output
			rep.pkg(buildPath(ev.ImportPath)).Output += ev.Output
		case "build-fail":
			rep.Failed = true
			p := rep.pkg(buildPath(ev.ImportPath))
			p.Failed, p.BuildFailed = true, true
		case "output":
			if ev.Test == "" {
				rep.Output += ev.Output
				if ev.Package != "" {
					rep.pkg(ev.Package).Output += ev.Output
				}
				continue
			}
			b := output[key]
			if b == nil {
				b = &strings.Builder{}
				output[key] = b
			}
			b.WriteString(ev.Output)
		case "pass", "fail", "skip":
			if ev.Test == "" {
				if ev.Action == "fail" {
					rep.Failed = true
					if ev.Package != "" {
						p := rep.pkg(ev.Package)
						p.Failed = true
						if ev.FailedBuild != "" {
							p.BuildFailed = true
						}
					}
				}
				continue
			}
			res := Result{Package: ev.Package, Name: ev.Test, Outcome: ev.Action, Elapsed: ev.Elapsed}
			if b := output[key]; b != nil {
				res.Output = b.String()
				delete(output, key)
			}
			rep.Tests = append(rep.Tests, res)
			running = slices.DeleteFunc(running, func(r Event) bool { return r.Package == ev.Package && r.Test == ev.Test })
		}
	}
	for _, ev := range running {
		res := Result{Package: ev.Package, Name: ev.Test}
		if b := output[ev.Package+" "+ev.Test]; b != nil {
			res.Output = b.String()
		}
		rep.Unfinished = append(rep.Unfinished, res)
	}
	return rep
}

// Outcomes folds repeated runs (-count > 1) into one outcome per test name:
// a test that failed in any run is "fail".
func (r *Report) Outcomes() map[string]string {
	out := map[string]string{}
	for _, t := range r.Tests {
		if prev, seen := out[t.Name]; !seen || prev != "fail" {
			out[t.Name] = t.Outcome
		}
	}
	return out
}

// Names returns the distinct test names of the report, sorted.
func (r *Report) Names() []string {
	seen := map[string]bool{}
	var names []string
	for _, t := range r.Tests {
		if !seen[t.Name] {
			seen[t.Name] = true
			names = append(names, t.Name)
		}
	}
	sort.Strings(names)
	return names
}

// FirstFailure returns the first failing result named name, with its output.
func (r *Report) FirstFailure(name string) (Result, bool) {
	for _, t := range r.Tests {
		if t.Name == name && t.Outcome == "fail" {
			return t, true
		}
	}
	return Result{}, false
}
