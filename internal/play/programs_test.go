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
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/grpc-workbook/streaming/internal/lessons"
	"github.com/grpc-workbook/streaming/lessons/05-pubsub/pubsubpb"
	"github.com/grpc-workbook/streaming/lessons/08-scale-out/scaleoutpb"
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

// buildWithSolution builds the play program of lesson id with the
// solutions in place, and returns the binary's path.
func buildWithSolution(t *testing.T, id string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "play")
	build := exec.Command("go", "build", "-overlay", solutionOverlay(t), "-o", bin, "./internal/play/"+id)
	build.Dir = root
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
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
	bin := buildWithSolution(t, "05-pubsub")

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
	text := <-rest // before Wait, which closes the pipe once the program has exited
	require.NoError(t, cmd.Wait(), "the program exits 0")
	assert.Contains(t, text, "grpcurl -plaintext -d '{\"name\": \"ada\"}' "+m[1]+" workbook.pubsub.v1.Hub/Subscribe")
	assert.Contains(t, text, "Stopping...\nStopped.\n", "no notes: the solution's Shutdown stopped the server")
}

// Lesson 08's program, built with the solution, serves replicas A and B on
// two real ports behind its embedded broker: an event published on B
// reaches a subscriber on A. Ctrl-C shuts A down as Task 5 teaches (the
// subscriber hears Goodbye, then the stream ends with OK), then B, then the
// broker, whose temporary directory is gone once the program has exited.
func TestPlay_Lesson08_Solution_PublishOnB_ReachesSubscriberOnA(t *testing.T) {
	t.Parallel()
	bin := buildWithSolution(t, "08-scale-out")

	tmp := t.TempDir() // the broker's store goes in here
	cmd := exec.Command(bin, "--code", "solution")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	defer cmd.Process.Kill() // if the test fails before the end
	lines := bufio.NewScanner(stdout)
	require.True(t, lines.Scan(), "the first line")
	require.True(t, strings.HasSuffix(lines.Text(), "serving 2 replicas:"), "the first line: %q", lines.Text())
	addrs := map[string]string{}
	for range 2 {
		require.True(t, lines.Scan(), "a replica's line")
		m := regexp.MustCompile(`^  replica ([AB]) on (127\.0\.0\.1:\d+)$`).FindStringSubmatch(lines.Text())
		require.NotNil(t, m, "a replica's line: %q", lines.Text())
		addrs[m[1]] = m[2]
	}
	require.Len(t, addrs, 2, "replicas A and B")
	require.NotEqual(t, addrs["A"], addrs["B"], "each on a port of its own")
	rest := make(chan string)
	go func() { // the rest of the output, once the program has ended
		var b strings.Builder
		for lines.Scan() {
			b.WriteString(lines.Text() + "\n")
		}
		rest <- b.String()
	}()

	hubs := map[string]scaleoutpb.HubClient{}
	for name, addr := range addrs {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		defer conn.Close()
		hubs[name] = scaleoutpb.NewHubClient(conn)
		h, err := healthpb.NewHealthClient(conn).Check(ctx(t), &healthpb.HealthCheckRequest{Service: "workbook.scaleout.v1.Hub"})
		require.NoError(t, err, "replica %s's health", name)
		assert.Equal(t, healthpb.HealthCheckResponse_SERVING, h.GetStatus(), "replica %s", name)
	}

	events, err := hubs["A"].Subscribe(ctx(t), &scaleoutpb.SubscribeRequest{AfterSeq: 0})
	require.NoError(t, err)
	reply, err := hubs["B"].Publish(ctx(t), &scaleoutpb.PublishRequest{RequestId: "r1", Payload: "hello"})
	require.NoError(t, err)
	assert.Equal(t, uint64(1), reply.GetSeq())
	assert.Equal(t, "B", reply.GetReplica())
	ev, err := events.Recv()
	require.NoError(t, err)
	assert.Equal(t, uint64(1), ev.GetMessage().GetSeq(), "B's event on A: %v", ev)
	assert.Equal(t, "hello", ev.GetMessage().GetPayload())

	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	// Each replica's shutdown has play.GraceLimit (5 s): a program still
	// running long after that is stuck, and Wait reports it killed.
	watchdog := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() })
	defer watchdog.Stop()
	ev, err = events.Recv()
	require.NoError(t, err)
	assert.Equal(t, "A", ev.GetGoodbye().GetReplica(), "Goodbye from A: %v", ev)
	assert.Equal(t, uint64(1), ev.GetGoodbye().GetLastSeq())
	_, err = events.Recv()
	assert.ErrorIs(t, err, io.EOF, "after Goodbye the stream ends with OK")
	text := <-rest // before Wait, which closes the pipe once the program has exited
	require.NoError(t, cmd.Wait(), "the program exits 0")
	assert.Contains(t, text, "grpcurl -plaintext -d '{\"afterSeq\": 0}' "+addrs["A"]+" workbook.scaleout.v1.Hub/Subscribe")
	assert.Contains(t, text, "Stopping...\nStopped.\n", "no notes: each replica's Shutdown stopped it, Close stopped the broker")
	left, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, left, "the broker's store is removed at exit")
}
