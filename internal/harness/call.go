package harness

import (
	"fmt"
	"runtime/debug"
	"testing"
	"time"
)

// Call runs fn, a call into the lesson's code that should return at once, and
// fails the test if it does not return within WaitLimit or if it panics,
// saying which call it was and which line of the lesson's code is stuck or
// panicked. call names it as the learner would write it, "hub.Publish(\"hi\")".
//
// fn runs on its own goroutine, so it must not call t.Fatal or require:
// assign what the call returns and check it after Call.
//
//	var n int
//	harness.Call(t, `hub.Publish("hi")`, func() { n, err = hub.Publish("hi") })
func Call(t testing.TB, call string, fn func()) {
	t.Helper()
	track(t)
	type outcome struct {
		panicked bool
		value    any
		stack    []byte
	}
	done := make(chan outcome, 1)
	ids := make(chan int, 1)
	go func() {
		ids <- currentGoroutine().id
		returned := false
		defer func() {
			if !returned {
				done <- outcome{panicked: true, value: recover(), stack: debug.Stack()}
			}
		}()
		fn()
		returned = true
		done <- outcome{}
	}()
	id := <-ids
	limit := limitFor(t)
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case o := <-done:
		if o.panicked {
			t.Fatalf("%s panicked: %v%s", call, o.value, at(panicLocation(o.stack)))
		}
	case <-timer.C:
		report := stuckReport(allGoroutines(), id)
		if report == "" {
			report = "(no goroutine is in the lesson's code: it waits inside something it called)"
		}
		blocked := freezeAll(t, call+" did not return", true)
		t.Fatalf("%s did not return within %v: it is blocked.\n%s%s", call, limit, report, blocked)
	}
}

func at(location string) string {
	if location == "" {
		return ""
	}
	return fmt.Sprintf("\n  at %s", location)
}
