package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/internal/harness"
	resilience "github.com/grpc-workbook/streaming/lessons/06-resilience"
)

// TestResilience_Retryable_OnlyUnavailable expects Retryable to say yes to
// codes.Unavailable alone, wrapped or not, and no to every code a retry
// cannot change, to the caller's own cancel or deadline, and to no error.
func TestResilience_Retryable_OnlyUnavailable(t *testing.T) {
	cases := []struct {
		err  error
		want bool
		why  string
	}{
		{status.Error(codes.Unavailable, "server restarting"), true, "the server is restarting or the connection broke: a later try can succeed"},
		{fmt.Errorf("subscribe: %w", status.Error(codes.Unavailable, "connection lost")), true, "a wrapped status keeps its code: status.Code finds it"},
		{status.Error(codes.InvalidArgument, "bad request"), false, "the request is wrong, and will be as wrong next time"},
		{status.Error(codes.NotFound, "no such feed"), false, "what is missing will still be missing"},
		{status.Error(codes.PermissionDenied, "not yours"), false, "the caller may not, and a retry does not change who it is"},
		{status.Error(codes.Unauthenticated, "who are you"), false, "the credentials are wrong or missing: fix them first"},
		{status.Error(codes.FailedPrecondition, "not now"), false, "the system must be fixed before this can work"},
		{status.Error(codes.OutOfRange, "fell out of the log"), false, "the position is gone from the log: asking again asks for the same gone events"},
		{status.Error(codes.DeadlineExceeded, "too late"), false, "the time the caller allowed is spent"},
		{status.Error(codes.ResourceExhausted, "message larger than max"), false, "a quota or a message too large: a message too large never fits, however often it is sent"},
		{status.Error(codes.Canceled, "context canceled"), false, "the caller gave up"},
		{status.Error(codes.Internal, "broken"), false, "a broken invariant is a bug, not a blip"},
		{status.Error(codes.Unimplemented, "no such method"), false, "the method will not appear by asking again"},
		{errors.New("plain error"), false, "a plain Go error is codes.Unknown: a bug, not a blip"},
		{context.Canceled, false, "the caller's context ended: stop"},
		{context.DeadlineExceeded, false, "the caller's deadline passed: stop"},
		{nil, false, "no error: nothing to retry"},
	}
	got := make([]bool, len(cases))
	harness.Call(t, "resilience.Retryable(err) for each error", func() {
		for i, c := range cases {
			got[i] = resilience.Retryable(c.err)
		}
	})
	for i, c := range cases {
		assert.Equal(t, c.want, got[i], "Retryable(%s): %s", harness.Describe(c.err), c.why)
	}
}

// delays calls b.Delay for each attempt, through harness.Call.
func delays(t *testing.T, b resilience.Backoff, attempts ...int) []time.Duration {
	t.Helper()
	got := make([]time.Duration, len(attempts))
	harness.Call(t, "Backoff.Delay(attempt)", func() {
		for i, a := range attempts {
			got[i] = b.Delay(a)
		}
	})
	return got
}

// TestResilience_Backoff_DoublesUpToTheCap expects the ceiling of the wait
// to start at Base, double with each attempt, and stop at Cap, however
// large the attempt number. Rand says 0.5 throughout, so every wait is half
// its ceiling.
func TestResilience_Backoff_DoublesUpToTheCap(t *testing.T) {
	b := resilience.Backoff{Base: 100 * time.Millisecond, Cap: 5 * time.Second, Rand: func() float64 { return 0.5 }}
	ms := time.Millisecond
	want := []time.Duration{
		50 * ms, 100 * ms, 200 * ms, 400 * ms, 800 * ms, // ceilings 100 ms, 200 ms, ... 1.6 s
		1600 * ms,                                                        // attempt 5: ceiling 3.2 s, still below the cap
		2500 * ms,                                                        // attempt 6: 6.4 s would pass the cap, so the ceiling is the cap, 5 s
		2500 * ms, 2500 * ms, 2500 * ms, 2500 * ms, 2500 * ms, 2500 * ms, // the cap holds at attempts 7, 30, 62, 63, 64, 1000 (no overflow)
		2500 * ms, // and at math.MaxInt
	}
	got := delays(t, b, 0, 1, 2, 3, 4, 5, 6, 7, 30, 62, 63, 64, 1000, math.MaxInt)
	assert.Equal(t, want, got, "Delay(0, 1, 2, 3, 4, 5, 6, 7, 30, 62, 63, 64, 1000, MaxInt) with Base 100ms, Cap 5s and Rand always 0.5: "+
		"the ceiling is min(Cap, Base·2^attempt) and the wait is Rand()·ceiling")
}

// TestResilience_Backoff_FullJitter_AnyWaitFromZeroToTheCeiling expects the
// wait to be Rand()·ceiling: from 0 (retry at once) to just below the
// ceiling, the whole range, not half of it and not on top of it.
func TestResilience_Backoff_FullJitter_AnyWaitFromZeroToTheCeiling(t *testing.T) {
	for _, r := range []float64{0, 0.25, 0.75, 0.875} {
		b := resilience.Backoff{Base: 100 * time.Millisecond, Cap: 300 * time.Millisecond, Rand: func() float64 { return r }}
		want := []time.Duration{
			time.Duration(r * float64(100*time.Millisecond)), // attempt 0: ceiling 100 ms
			time.Duration(r * float64(200*time.Millisecond)), // attempt 1: ceiling 200 ms
			time.Duration(r * float64(300*time.Millisecond)), // attempt 2: 400 ms, capped at 300 ms
		}
		assert.Equal(t, want, delays(t, b, 0, 1, 2), "Delay(0, 1, 2) with Base 100ms, Cap 300ms and Rand always %v: want Rand()·ceiling", r)
	}
}

// TestResilience_Backoff_Jitter_SpreadsClientsAfterARestart is why jitter
// matters. A server restarts and 1000 clients lose their streams in the
// same instant. Without jitter, each waits the same ceiling (100 ms) and
// all 1000 come back in the same instant, to a server just starting up:
// the herd that knocked it over comes back together, again and again. With
// full jitter, their first waits spread over the whole 0 to 100 ms.
func TestResilience_Backoff_Jitter_SpreadsClientsAfterARestart(t *testing.T) {
	const clients = 1000
	src := rand.New(rand.NewPCG(6, 6)) // seeded: the same "random" numbers every run
	b := resilience.Backoff{Base: 100 * time.Millisecond, Cap: 5 * time.Second, Rand: src.Float64}

	attempts := make([]int, clients) // every client's first retry: attempt 0
	waits := delays(t, b, attempts...)

	distinct := map[time.Duration]bool{}
	var slots [10]int // clients waking in 0-10 ms, 10-20 ms, ... 90-100 ms
	for _, d := range waits {
		distinct[d] = true
		if d < 0 || d >= 100*time.Millisecond {
			t.Fatalf("a first wait of %v: with full jitter every first wait is in [0, 100ms)", d)
		}
		slots[d/(10*time.Millisecond)]++
	}
	t.Logf("without jitter: 1 wake-up time for %d clients; with it: %d; per 10 ms: %v", clients, len(distinct), slots)
	assert.GreaterOrEqual(t, len(distinct), clients*99/100,
		"distinct wake-up times of %d clients after one restart: with full jitter nearly every client wakes at its own time; "+
			"with the same wait for all (no jitter) there is 1", clients)
	for i, n := range slots {
		assert.InDelta(t, clients/10, n, clients/20,
			"clients waking %d-%d ms after the restart: full jitter spreads them evenly over the whole range, about %d per 10 ms",
			10*i, 10*(i+1), clients/10)
	}
}
