package play

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/grpc-workbook/streaming/internal/lessons"
	"github.com/grpc-workbook/streaming/lessons/05-pubsub/pubsubpb"
)

// root is the repository's root, from this package's folder.
const root = "../.."

// solutionOverlay writes an overlay file that puts the solution of every
// lesson with a play program in place of its stubs, and returns its path.
func solutionOverlay(t *testing.T) string {
	t.Helper()
	all, err := lessons.Discover(root)
	require.NoError(t, err)
	replace := map[string]string{}
	for _, l := range all {
		if _, err := os.Stat(filepath.Join(root, "internal", "play", l.ID, "main.go")); err != nil {
			continue
		}
		r, err := l.SolutionOverlay(root)
		require.NoError(t, err)
		for k, v := range r {
			replace[k] = v
		}
	}
	data, err := json.Marshal(map[string]any{"Replace": replace})
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "overlay.json")
	require.NoError(t, os.WriteFile(path, data, 0o644))
	return path
}

// Every play program compiles, and passes go vet, with the solutions in
// place of the stubs. (With the stubs, the test command's own build and
// vet check them.) Vet type-checks without linking, so this takes a second.
func TestPlay_Programs_CompileWithTheSolutions(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("go", "vet", "-overlay", solutionOverlay(t), "./internal/play/...")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go vet with the solutions:\n%s", out)
}

// The "done": lesson 05's program, built with the solution, serves
// on a real port; a subscriber sees First, then Timer events from the real
// one-second ticker, and a Publish as a Message; Ctrl-C (SIGINT) closes the
// hub, so the subscriber hears Goodbye and the stream ends with OK.
func TestPlay_Lesson05_Solution_FirstTimerMessageGoodbye(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "play05")
	build := exec.Command("go", "build", "-overlay", solutionOverlay(t), "-o", bin, "./internal/play/05-pubsub")
	build.Dir = root
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	cmd := exec.Command(bin, "--code", "solution")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	defer cmd.Process.Kill() // if the test fails before the end
	lines := bufio.NewScanner(stdout)
	require.True(t, lines.Scan(), "the first line")
	m := regexp.MustCompile(`serving on (127\.0\.0\.1:\d+)$`).FindStringSubmatch(lines.Text())
	require.NotNil(t, m, "the first line: %q", lines.Text())
	rest := make(chan string)
	go func() { // the rest of the output, once the program has ended
		var b strings.Builder
		for lines.Scan() {
			b.WriteString(lines.Text() + "\n")
		}
		rest <- b.String()
	}()

	conn, err := grpc.NewClient(m[1], grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	hub := pubsubpb.NewHubClient(conn)
	events, err := hub.Subscribe(ctx(t), &pubsubpb.SubscribeRequest{Name: "ada"})
	require.NoError(t, err)
	ev, err := events.Recv()
	require.NoError(t, err)
	assert.Equal(t, "ada", ev.GetFirst().GetName(), "the First event: %v", ev)

	start := time.Now()
	ev, err = events.Recv()
	require.NoError(t, err)
	require.NotNil(t, ev.GetTimer(), "after First, a Timer: %v", ev)
	assert.Less(t, time.Since(start), 2*time.Second, "a Timer each second")

	_, err = hub.Publish(ctx(t), &pubsubpb.PublishRequest{Payload: "hello"})
	require.NoError(t, err)
	for ev.GetMessage() == nil {
		ev, err = events.Recv()
		require.NoError(t, err)
	}
	assert.Equal(t, "hello", ev.GetMessage().GetPayload())

	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	for ev.GetGoodbye() == nil {
		ev, err = events.Recv()
		require.NoError(t, err)
	}
	_, err = events.Recv()
	assert.ErrorIs(t, err, io.EOF, "after Goodbye the stream ends with OK")
	require.NoError(t, cmd.Wait(), "the program exits 0")
	text := <-rest
	assert.Contains(t, text, "grpcurl -plaintext -d '{\"name\": \"ada\"}' "+m[1]+" workbook.pubsub.v1.Hub/Subscribe")
	assert.Contains(t, text, "Stopping...\nStopped.\n", "no notes: the solution's Shutdown stopped the server")
}
