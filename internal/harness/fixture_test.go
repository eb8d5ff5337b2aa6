package harness

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-workbook/streaming/internal/gotest"
)

// TestFixture builds testdata/lesson, a package with a README.md and a
// mistake in each function, as a learner's go test would, and runs its tests
// one case at a time to read what a learner (or the workbook runner, through
// go test -json) would. The learner's file comes in through go test
// -overlay, as the verification puts solutions and mistakes in place: Go
// then names its frames by the path it replaces, with the overlay's lines,
// so every line number checked below is the overlay's.
func TestFixture(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a test binary")
	}
	wd, err := os.Getwd()
	require.NoError(t, err)
	dir := t.TempDir()
	overlay, err := json.Marshal(map[string]any{"Replace": map[string]string{
		filepath.Join(wd, "testdata/lesson/lesson.go"): filepath.Join(wd, "testdata/overlay/lesson.go.txt"),
	}})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "overlay.json"), overlay, 0o644))
	bin := filepath.Join(dir, "lesson.test")
	build := exec.CommandContext(t.Context(), "go", "test", "-c", "-o", bin, "-overlay", filepath.Join(dir, "overlay.json"), "./testdata/lesson")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the fixture: %v\n%s", err, out)
	}
	f := fixture{bin: bin, dir: filepath.Join(wd, "testdata/lesson")}
	t.Run("FailingTests", f.failingTests)
	t.Run("Hung", f.hung)
	t.Run("Crash", f.crash)
	t.Run("Leak", f.leak)
}

type fixture struct{ bin, dir string }

// run runs the fixture's tests that match run, in its folder as go test
// would, and returns what they printed and how the binary exited.
func (f fixture) run(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), f.bin, args...)
	cmd.Dir, cmd.Env = f.dir, append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return string(out), exit.ExitCode()
	}
	require.NoError(t, err)
	return string(out), 0
}

// json runs the tests as go test -json does, through test2json.
func (f fixture) json(t *testing.T, env []string, run string) (map[string]string, *gotest.Report) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "go", "tool", "test2json", "-p", "lesson", f.bin, "-test.v=test2json", "-test.run", run)
	cmd.Dir, cmd.Env = f.dir, append(os.Environ(), env...)
	stdout, err := cmd.Output()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		require.NoError(t, err)
	}
	rep := gotest.Parse(bytes.NewReader(stdout))
	out := map[string]string{}
	for _, r := range rep.Tests {
		out[r.Name] = r.Output
	}
	return out, rep
}

// lastLine is the last line a test printed before go test's "--- FAIL"
// line, without the file:line testing puts before it.
func lastLine(output string) string {
	var last string
	for _, l := range strings.Split(output, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "--- ") && !strings.HasPrefix(l, "=== ") {
			last = l
		}
	}
	if _, after, ok := strings.Cut(last, ".go:"); ok {
		if _, msg, ok := strings.Cut(after, ": "); ok {
			return msg
		}
	}
	return last
}

func (f fixture) failingTests(t *testing.T) {
	out, rep := f.json(t, nil, "^(TestSay_Fails|TestSay_Passes|TestUnlisted|TestCall_PublishDeadlocks)$")
	require.Contains(t, out, "TestSay_Fails", "output:\n%s", rep.Output)

	inOrder(t, out["TestSay_Fails"],
		`Check\(service="Ada"\): got codes.InvalidArgument \("no Ada here"\), want codes.OK.`,
		`gRPC transcript`,
		`call 1: /grpc.health.v1.Health/Check \(unary\)`,
		`client +→ request +service: ?"Ada"`,
		`server +handler returned status codes.InvalidArgument \("no Ada here"\)`,
		`client +← status +codes.InvalidArgument`,
	)
	assert.Equal(t, `This test checks Task 1: re-read README.md, "Task 1: Answer Say".`, lastLine(out["TestSay_Fails"]))
	assert.NotContains(t, out["TestSay_Passes"], "gRPC transcript")
	assert.NotContains(t, out["TestSay_Passes"], "README")

	assert.Equal(t, `Re-read the lesson's README.md (no task's "Tests:" line names TestUnlisted).`, lastLine(out["TestUnlisted"]))

	inOrder(t, out["TestCall_PublishDeadlocks"],
		`hub.Publish\(\) did not return within 1s: it is blocked.`,
		`Where the lesson's code is stuck:`,
		`lesson.go:30 in \(\*Hub\).Count: waiting to lock a mutex that is already locked, by another goroutine or by this one \(Go's mutexes are not re-entrant\)`,
	)
	assert.Equal(t, `This test checks Task 2: re-read README.md, "Task 2: Publish without a deadlock".`, lastLine(out["TestCall_PublishDeadlocks"]))
}

// A test stuck on its own goroutine, where no harness wait can end it, is
// ended by Main's watchdog (its limit shortened to 1s for the fixture).
func (f fixture) hung(t *testing.T) {
	short := []string{limitsEnv + "=1s"}
	start := time.Now()
	output, code := f.run(t, short, "-test.run", "^TestHang$")
	assert.Less(t, time.Since(start), 10*time.Second)
	assert.Equal(t, 1, code)
	inOrder(t, output,
		`--- FAIL: TestHang \(hung\)`,
		`TestHang has run for more than 1s and is stuck`,
		`Where the lesson's code is stuck:`,
		`lesson.go:30 in \(\*Hub\).Count: waiting to lock a mutex`,
		`The test waits at lesson_test.go:56.`,
		`This test checks Task 3: re-read README.md, "Task 3: Do not hang".`,
		`FAIL`,
	)

	f.failsInJSON(t, short, "TestHang", "This test checks Task 3")
}

// failsInJSON checks that go test -json, as the workbook runner reads it,
// reports test failed, with want in its output.
func (f fixture) failsInJSON(t *testing.T, env []string, test, want string) {
	t.Helper()
	out, rep := f.json(t, env, "^"+test+"$")
	assert.Equal(t, "fail", rep.Outcomes()[test], "output:\n%s", rep.Output)
	assert.Contains(t, out[test], want)
}

// A panic in a goroutine the lesson's code started itself cannot be
// recovered; Main's crash monitor says which test was running, what
// panicked where, and which task it checks.
func (f fixture) crash(t *testing.T) {
	output, code := f.run(t, nil, "-test.run", "^TestCrash$")
	assert.Equal(t, 2, code, "the binary crashed")
	inOrder(t, output,
		`panic: close of closed channel`, // Go's own report comes first
		`--- FAIL: TestCrash \(crashed\)`,
		`TestCrash crashed: panic: close of closed channel at lesson.go:40 in StartBroken.func1.`,
		`This test checks Task 4: re-read README.md, "Task 4: Do not crash".`,
	)

	f.failsInJSON(t, nil, "TestCrash", "TestCrash crashed: panic: close of closed channel at lesson.go:40")
}

func (f fixture) leak(t *testing.T) {
	output, code := f.run(t, nil, "-test.run", "^TestLeak$")
	assert.Equal(t, 1, code, "goleak fails the package")
	assert.NotContains(t, output, "README", "the test itself passed")
	inOrder(t, output,
		`Goroutines are still running after every test passed`,
		`Where the lesson's code is stuck:`,
		`lesson.go:47 in Leak.func1: waiting to receive from a channel that nobody sends on or closes`,
		`goleak's report`,
	)
}
