package harness

import "time"

// Two limits keep a stuck test short and its report true.
//
// WaitLimit is how long any wait in a test gives up after: for a handler to
// return, a message to arrive, a call into your code to come back. Nothing a
// correct answer does takes more than milliseconds, so reaching it means
// something is blocked.
//
// CallTimeout is the fail-safe deadline on every RPC a test makes (Context).
// It is well above WaitLimit, so a wait that gives up finds the call still in
// progress and can say who is blocked where, and nothing that happened only
// because the fail-safe ended a call can pass for something that happened on
// time. (A wait late in a long test gives up sooner still: see limitFor.)
const (
	WaitLimit   = 1 * time.Second
	CallTimeout = 2 * time.Second
)

// waitLimit is WaitLimit; the harness's own tests shorten it.
var waitLimit = WaitLimit

// testLimit is how long one test may run before the watchdog (see Main)
// reports it hung and ends the test binary. It is above CallTimeout, so
// every ordinary way of failing comes first.
var testLimit = 8 * time.Second

// Timeout returns a channel that receives after WaitLimit. Use it in a select
// that waits for one of several things, and call Blocked when it fires:
//
//	select {
//	case task := <-w.got:
//	case <-harness.Timeout():
//		harness.Blocked(t, "the worker to receive a task")
//	}
//
// Unlike Wait, it has no test to look at, so it cannot end early for a call
// close to its fail-safe: prefer Wait where there is one channel to wait on.
func Timeout() <-chan time.Time { return time.After(waitLimit) }
