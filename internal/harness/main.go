package harness

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Main runs a lesson's tests; call it from TestMain:
//
//	func TestMain(m *testing.M) { harness.Main(m) }
//
// Besides running the tests it
//   - ends the test binary, within seconds, when one test is stuck (its
//     goroutine blocked past every limit the harness sets), printing which
//     test, its task, and where the lesson's code waits: without this, go
//     test would sit for ten minutes and then print a bare goroutine dump.
//     It watches the tests that have called the harness: every lesson test
//     does, with See at least;
//   - turns a crash (a panic in a goroutine the lesson's code started, a
//     concurrent map write) into a message that names the test, the panic,
//     the lesson's line and the task, instead of a bare stack trace alone;
//   - fails the package if any goroutine outlives the tests (goleak): a
//     handler that never returned, a stream nobody drained.
func Main(m *testing.M) {
	if pc, _, _, ok := runtime.Caller(1); ok {
		setTestedPackage(runtime.FuncForPC(pc).Name())
	}
	flag.Parse() // m.Run would; the watchdog and the crash monitor need -test.v now
	if os.Getenv(crashEnv) != "" {
		monitorCrash()
	}
	fixtureLimits()
	startCrashMonitor()
	stop := watch()
	code := m.Run()
	stop()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Printf("Goroutines are still running after every test passed: something the lesson started never stopped.\n%s\n\ngoleak's report:\n%v\n",
				leakSummary(), err)
			code = 1
		}
	}
	os.Exit(code)
}

// leakSummary names where leaked goroutines sit in the lesson's code.
func leakSummary() string {
	if r := stuckReport(allGoroutines(), 0); r != "" {
		return r
	}
	return "(none of them is in the lesson's code; see goleak's report)"
}

// limitsEnv shortens the watchdog's limit (testLimit) for the harness's own
// fixture packages, under internal/harness/testdata, so that their tests of
// a hung test take a second, not eight. Main ignores it anywhere else.
const limitsEnv = "HARNESS_FIXTURE_TEST_LIMIT"

func fixtureLimits() {
	wd, _ := os.Getwd()
	if !strings.Contains(filepath.ToSlash(wd), "/internal/harness/testdata/") {
		return
	}
	if d, err := time.ParseDuration(os.Getenv(limitsEnv)); err == nil && d > 0 {
		testLimit = d
	}
}

// test2json reports whether go test -json reads this binary's output: its
// lines that report a test's end must then start with the marker byte
// test2json looks for (see go doc test2json), or they count as plain output.
func test2json() bool {
	v := flag.Lookup("test.v")
	return v != nil && v.Value.String() == "test2json"
}

// failLine formats a "--- FAIL: name (why)" line as go test would.
func failLine(name, why string) string {
	marker := ""
	if test2json() {
		marker = "\x16"
	}
	return fmt.Sprintf("%s--- FAIL: %s (%s)\n", marker, name, why)
}

// finalFail is the test binary's last line when it fails.
func finalFail() string {
	if test2json() {
		return "\x16FAIL\n"
	}
	return "FAIL\n"
}
