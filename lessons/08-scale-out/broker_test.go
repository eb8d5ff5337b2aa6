package scaleout_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-workbook/streaming/internal/harness"
	scaleout "github.com/grpc-workbook/streaming/lessons/08-scale-out"
)

func TestScaleOut_Broker_StartsInProcess_NoPort(t *testing.T) {
	dir := t.TempDir()
	var b *scaleout.Broker
	var err error
	harness.Call(t, "scaleout.StartBroker(dir, 10)", func() { b, err = scaleout.StartBroker(dir, 10) })
	require.NoError(t, err, "StartBroker")
	require.NotNil(t, b, "StartBroker returned no broker and no error")
	defer harness.Call(t, "broker.Close()", b.Close)

	srv := b.Server()
	assert.Nil(t, srv.Addr(), "the broker listens on a port: set DontListen, so that tests need no free port")
	for _, g := range natsGoroutines() {
		assert.NotContains(t, g.Stack, "handleSignals", "a goroutine of the broker waits for the process's signals: set NoSigs, "+
			"or Ctrl-C during go test stops the broker instead of the tests")
	}
	assert.True(t, srv.JetStreamEnabled(), "JetStream is off: set JetStream in the server's options")
	assert.Equal(t, filepath.Join(dir, "jetstream"), srv.JetStreamConfig().StoreDir, "where JetStream stores the stream (StoreDir, plus jetstream/): StoreDir must be the dir StartBroker was given")

	nc, err := b.Connect()
	require.NoError(t, err, "connecting in-process: is the server ready before StartBroker returns?")
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	_, err = js.Publish(harness.Context(t), scaleout.Subject, []byte("x"))
	require.NoError(t, err, "publishing to %q: did StartBroker create the stream %s?", scaleout.Subject, scaleout.StreamName)
	entries, err := os.ReadDir(filepath.Join(dir, "jetstream"))
	require.NoError(t, err, "the broker stored nothing under the dir it was given")
	assert.NotEmpty(t, entries, "the broker stored nothing under the dir it was given")
}

func TestScaleOut_Broker_Stream_KeepsTheLatestAndRemembersIDs(t *testing.T) {
	b := startBroker(t, 5)
	s, err := b.js.Stream(harness.Context(t), scaleout.StreamName)
	require.NoError(t, err, "looking up stream %s", scaleout.StreamName)
	cfg := s.CachedInfo().Config
	assert.Equal(t, []string{scaleout.Subject}, cfg.Subjects, "the stream's subjects")
	assert.Equal(t, jetstream.FileStorage, cfg.Storage, "the stream's storage: file, in the broker's StoreDir")
	assert.Equal(t, int64(5), cfg.MaxMsgs, "the stream's MaxMsgs: keep, as given to StartBroker")
	assert.Equal(t, jetstream.DiscardOld, cfg.Discard, "what the stream does when full: drop the oldest")
	assert.Equal(t, scaleout.DedupWindow, cfg.Duplicates, "how long the stream remembers a message id: DedupWindow")

	// Limits on both sides: 5 events are all kept; the sixth drops the first.
	b.publishDirect(t, 1, 5)
	st := b.state(t)
	assert.Equal(t, []uint64{1, 5}, []uint64{st.FirstSeq, st.LastSeq}, "first and last event kept after 5 publishes")
	b.publishDirect(t, 6, 1)
	st = b.state(t)
	assert.Equal(t, []uint64{2, 6}, []uint64{st.FirstSeq, st.LastSeq}, "first and last event kept after 6 publishes: the oldest goes")
}

func TestScaleOut_Broker_Close_StopsEveryGoroutine(t *testing.T) {
	if left := natsGoroutinesLeft(); len(left) > 0 {
		t.Fatalf("%d goroutines of NATS, left by an earlier test (see its failure: a connection or broker it did not close), still run; "+
			"this test counts its own, so it needs none running when it starts", len(left))
	}
	dir := t.TempDir()
	var b *scaleout.Broker
	var err error
	harness.Call(t, "scaleout.StartBroker(dir, 10)", func() { b, err = scaleout.StartBroker(dir, 10) })
	require.NoError(t, err, "StartBroker")
	require.NotNil(t, b, "StartBroker returned no broker and no error")
	require.NotEmpty(t, natsGoroutines(), "no broker goroutine runs after StartBroker: did it Start the server?")

	harness.Call(t, "broker.Close()", b.Close)
	if left := natsGoroutinesLeft(); len(left) > 0 {
		t.Errorf("%d goroutines of NATS still run after Close returned: Close must shut the server down, and StartBroker must close "+
			"the connection it created the stream with. The first left:\n%s", len(left), left[0].Stack)
		reported(left)
	}
	_, err = b.Connect()
	assert.Error(t, err, "connecting after Close succeeded: the broker still runs")
}
