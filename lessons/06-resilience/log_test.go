package resilience_test

import (
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-workbook/streaming/internal/harness"
	resilience "github.com/grpc-workbook/streaming/lessons/06-resilience"
	"github.com/grpc-workbook/streaming/lessons/06-resilience/resiliencepb"
)

// appendAll appends each payload through harness.Call and returns the
// numbers Append gave them.
func appendAll(t *testing.T, log *resilience.Log, payloads ...string) []int {
	t.Helper()
	seqs := make([]int, len(payloads))
	harness.Call(t, "log.Append(payload)", func() {
		for i, p := range payloads {
			seqs[i] = int(log.Append(p))
		}
	})
	return seqs
}

// read calls log.Read(after) through harness.Call.
func read(t *testing.T, log *resilience.Log, after uint64) (seqs []int, payloads []string, changed <-chan struct{}, err error) {
	t.Helper()
	var events []*resiliencepb.Event
	harness.Call(t, fmt.Sprintf("log.Read(%d)", after), func() { events, changed, err = log.Read(after) })
	for _, ev := range events {
		seqs = append(seqs, int(ev.GetSeq()))
		payloads = append(payloads, ev.GetPayload())
	}
	return seqs, payloads, changed, err
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// TestResilience_Log_Read_EventsAfterAPosition expects Append to number
// events 1, 2, 3, ... and Read(after) to return those numbered above after,
// oldest first, with a channel that closes at the next Append.
func TestResilience_Log_Read_EventsAfterAPosition(t *testing.T) {
	log := resilience.NewLog(10, 10)

	seqs, _, changed, err := read(t, log, 0)
	require.NoError(t, err, "Read(0) on an empty log: 0 means from the start, and is always a valid position before anything was dropped")
	assert.Empty(t, seqs, "Read(0) on an empty log")
	require.NotNil(t, changed, "Read(0) on an empty log must return a channel that closes at the next Append")

	assert.Equal(t, []int{1, 2, 3}, appendAll(t, log, "a", "", "c"), "the numbers Append gave three events")
	assert.True(t, closed(changed), "the channel from Read(0) did not close when events were appended: a reader waiting on it would never wake")

	seqs, payloads, _, err := read(t, log, 0)
	require.NoError(t, err, "Read(0)")
	assert.Equal(t, []int{1, 2, 3}, seqs, "Read(0): every event, oldest first")
	assert.Equal(t, []string{"a", "", "c"}, payloads, "Read(0)'s payloads (an empty payload is a payload)")

	seqs, _, _, err = read(t, log, 2)
	require.NoError(t, err, "Read(2)")
	assert.Equal(t, []int{3}, seqs, "Read(2): the events after 2")

	seqs, _, changed, err = read(t, log, 3)
	require.NoError(t, err, "Read(3), the last event: nothing new yet, and that is no error")
	assert.Empty(t, seqs, "Read(3) when 3 is the last event")
	require.NotNil(t, changed, "Read(3) must return a channel that closes at the next Append")
	assert.False(t, closed(changed), "the channel from Read(3) is closed before anything new was appended: a reader would spin")
	appendAll(t, log, "d")
	assert.True(t, closed(changed), "the channel from Read(3) did not close when event 4 was appended")
	seqs, payloads, _, err = read(t, log, 3)
	require.NoError(t, err, "Read(3)")
	assert.Equal(t, []int{4}, seqs, "Read(3) after event 4 was appended")
	assert.Equal(t, []string{"d"}, payloads, "Read(3)'s payload")
}

// TestResilience_Log_Read_OnlyWhatTheLogStillHolds expects a log of size 3
// that has had 12 events to hold 10, 11, 12: Read may start right before the
// oldest kept (after 9) and no earlier (after 8), and at the last event
// (after 12) but not past it (after 13). Outside, Read says so with
// ErrNotInLog and names the oldest event kept or the last one.
func TestResilience_Log_Read_OnlyWhatTheLogStillHolds(t *testing.T) {
	log := resilience.NewLog(3, 3)
	appendAll(t, log, "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12")

	seqs, payloads, _, err := read(t, log, 9)
	require.NoError(t, err, "Read(9): the oldest event kept is 10, so after 9 the log still has everything")
	assert.Equal(t, []int{10, 11, 12}, seqs, "Read(9)")
	assert.Equal(t, []string{"10", "11", "12"}, payloads, "Read(9)'s payloads")

	_, _, _, err = read(t, log, 8)
	require.ErrorIs(t, err, resilience.ErrNotInLog, "Read(8): event 9 was dropped (the log keeps 3), so the log cannot resume after 8")
	assert.Contains(t, err.Error(), "10", "Read(8)'s error should name the oldest event kept, 10, so the reader knows where the log starts")

	seqs, _, _, err = read(t, log, 12)
	require.NoError(t, err, "Read(12), the last event")
	assert.Empty(t, seqs, "Read(12)")

	_, _, _, err = read(t, log, 13)
	require.ErrorIs(t, err, resilience.ErrNotInLog, "Read(13): past the last event, 12; a reader there saw events this log never had")
	assert.Contains(t, err.Error(), "12", "Read(13)'s error should name the last event, 12")
}

// TestResilience_Log_Append_SafeForConcurrentUse expects appends from many
// goroutines at once to get every number exactly once, with no gaps, and
// the log to hold them in number order.
func TestResilience_Log_Append_SafeForConcurrentUse(t *testing.T) {
	const writers, each = 8, 1000
	log := resilience.NewLog(writers*each, 1)
	got := make([][]int, writers)
	panics := make([]string, writers)
	harness.Call(t, "log.Append from 8 goroutines at once", func() {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for w := range writers {
			wg.Go(func() {
				<-start        // all at once
				defer func() { // a panic here would end the test binary: report it instead
					if v := recover(); v != nil {
						panics[w] = fmt.Sprintf("log.Append panicked: %v%s", v, lessonLine(debug.Stack()))
					}
				}()
				for i := range each {
					got[w] = append(got[w], int(log.Append(fmt.Sprintf("w%d-%d", w, i))))
				}
			})
		}
		close(start)
		wg.Wait()
	})
	for _, p := range panics {
		if p != "" {
			t.Fatal(p)
		}
	}
	var all []int
	for _, seqs := range got {
		all = append(all, seqs...)
	}
	slices.Sort(all)
	harness.AssertEachOnceInOrder(t, "the numbers Append returned, sorted", 1, writers*each, all)
	seqs, _, _, err := read(t, log, 0)
	require.NoError(t, err, "Read(0)")
	want := make([]int, writers*each)
	for i := range want {
		want[i] = i + 1
	}
	assert.Equal(t, want, seqs, "Read(0) after %d concurrent appends", writers*each)
}
