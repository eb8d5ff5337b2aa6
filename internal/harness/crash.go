package harness

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
)

// A panic in a goroutine that the lesson's code started itself, or a fatal
// error such as a concurrent map write, ends the test binary: nothing in the
// process can recover it, and Go prints a bare stack trace. So Main starts a
// small monitor, the same test binary run again, and hands Go's crash output
// to it through a pipe (runtime/debug.SetCrashOutput, as in its example).
// When the binary crashes, the monitor prints which test was running, the
// panic, the lesson's line, and the task; when it exits normally, the pipe
// just closes and the monitor prints nothing. Which tests are running it
// learns from lines the harness writes to the same pipe as tests start and
// end (track).

// crashEnv, set in the monitor's environment, makes Main run the monitor.
const crashEnv = "HARNESS_CRASH_MONITOR"

// crashPrefix starts the lines that say which tests run.
const crashPrefix = "harness-test\t"

// crashPipe is the pipe to the monitor; nil when there is none.
var crashPipe *os.File

func startCrashMonitor() {
	exe, err := os.Executable()
	if err != nil {
		return
	}
	r, w, err := os.Pipe()
	if err != nil {
		return
	}
	defer r.Close()
	cmd := exec.Command(exe, os.Args[1:]...) // the same flags: -test.v says how to report
	cmd.Env = append(os.Environ(), crashEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = r, os.Stdout, os.Stderr
	if cmd.Start() != nil {
		w.Close()
		return
	}
	if debug.SetCrashOutput(w, debug.CrashOptions{}) != nil {
		w.Close()
		return
	}
	crashPipe = w
}

// crashNote tells the monitor that a test has started ("run") or ended.
func crashNote(what, test string) {
	if crashPipe != nil {
		crashPipe.WriteString(crashPrefix + what + "\t" + test + "\n") //nolint:errcheck // a monitor that is gone is no monitor
	}
}

// monitorCrash is the monitor: it reads the pipe until the test binary
// exits, and reports a crash if the binary wrote one.
func monitorCrash() {
	running := map[string]bool{}
	var crash strings.Builder
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if what, test, ok := strings.Cut(strings.TrimPrefix(line, crashPrefix), "\t"); ok && strings.HasPrefix(line, crashPrefix) {
			running[test] = what == "run"
			continue
		}
		crash.WriteString(line + "\n")
	}
	if crash.Len() > 0 {
		os.Stdout.WriteString(crashReport(crash.String(), running))
	}
	os.Exit(0)
}

// crashReport words a crash for the tests that were running: each one that
// is not the parent of another.
func crashReport(crash string, running map[string]bool) string {
	what, _, _ := strings.Cut(strings.TrimSpace(crash), "\n")
	if !strings.HasPrefix(what, "panic: ") && !strings.HasPrefix(what, "fatal error: ") {
		what = "a fatal error (Go's own message, above, says which)" // Go writes a fatal error's first line to stderr only
	}
	where := ""
	if gs := parseStacks([]byte(crash)); len(gs) > 0 {
		pkg := lessonPackage(nil)
		for _, f := range gs[0].frames {
			if isLearnerFrame(f, pkg) {
				where = fmt.Sprintf(" at %s:%d in %s", filepath.Base(f.file), f.line, shortFunc(f.fn))
				break
			}
		}
	}
	var tests []string
	for test, on := range running {
		if on && !hasRunningSubtest(test, running) {
			tests = append(tests, test)
		}
	}
	if len(tests) == 0 {
		return fmt.Sprintf("The test binary crashed: %s%s.\n", what, where)
	}
	var b strings.Builder
	for _, test := range tests {
		b.WriteString(failLine(test, "crashed"))
		fmt.Fprintf(&b, "    %s crashed: %s%s.\n    %s\n", test, what, where, pointer(test))
	}
	return b.String() + finalFail()
}

func hasRunningSubtest(test string, running map[string]bool) bool {
	for other, on := range running {
		if on && strings.HasPrefix(other, test+"/") {
			return true
		}
	}
	return false
}
