package harness

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCrashReport_NamesTheRunningTestThePanicAndTheLessonsLine(t *testing.T) {
	setPackageUnderTest(t, "example.com/lessons/05-pubsub")
	panicked := `panic: close of closed channel

goroutine 23 [running]:
example.com/lessons/05-pubsub.(*Hub).Close(0xc00001c0f0)
	/work/main/lessons/05-pubsub/hub.go:88 +0x25
created by example.com/lessons/05-pubsub.NewHub in goroutine 7
	/work/main/lessons/05-pubsub/hub.go:30 +0x1a5
`
	running := map[string]bool{"TestHub": true, "TestHub/close": true, "TestOther": false}
	assert.Equal(t, `--- FAIL: TestHub/close (crashed)
    TestHub/close crashed: panic: close of closed channel at hub.go:88 in (*Hub).Close.
    Re-read the lesson's README.md (the harness could not read it: open README.md: no such file or directory).
FAIL
`, crashReport(panicked, running), "the subtest, not its parent; not a test that has ended")

	// A fatal error's first line goes to stderr only; the pipe gets the stacks.
	fatal := "\ngoroutine 7 [running]:\ninternal/runtime/maps.fatal({0xa609fc?, 0x0?})\n\t/usr/local/go/src/runtime/panic.go:1181 +0x18\n" +
		"example.com/lessons/05-pubsub.(*Hub).Publish(0xc00001c0f0)\n\t/work/main/lessons/05-pubsub/hub.go:51 +0x45\n"
	assert.Equal(t, "The test binary crashed: a fatal error (Go's own message, above, says which) at hub.go:51 in (*Hub).Publish.\n",
		crashReport(fatal, nil), "no test was running")
}
