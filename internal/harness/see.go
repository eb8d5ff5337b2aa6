package harness

import "testing"

// See names the lesson README section a test checks. If the test fails, for
// whatever reason (a status check, a wait that timed out, a leak), its output
// ends by pointing the learner at that section.
func See(t testing.TB, section string) {
	t.Helper()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Re-read README.md, %q.", section)
		}
	})
}
