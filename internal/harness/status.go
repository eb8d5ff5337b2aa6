package harness

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// RequireCode stops the test unless err carries the gRPC status code want.
// call names what the test did, for example `SayHello(name="")`; see names the
// README section to re-read, for example `Task 3: Reject bad names`.
func RequireCode(t testing.TB, err error, want codes.Code, call, see string) {
	t.Helper()
	if msg := CodeMismatch(err, want, call, see); msg != "" {
		t.Fatal(msg + blockedReport(t, err, want, call))
	}
}

// AssertCode is RequireCode that lets the test go on.
func AssertCode(t testing.TB, err error, want codes.Code, call, see string) bool {
	t.Helper()
	if msg := CodeMismatch(err, want, call, see); msg != "" {
		t.Error(msg + blockedReport(t, err, want, call))
		return false
	}
	return true
}

// RequireOK stops the test if err is not nil, explaining the status it carries.
func RequireOK(t testing.TB, err error, call, see string) {
	t.Helper()
	RequireCode(t, err, codes.OK, call, see)
}

// CodeMismatch returns "" when err carries the code want, and otherwise a
// message that says what came back, what was expected, and what usually
// causes the difference.
func CodeMismatch(err error, want codes.Code, call, see string) string {
	got := status.Code(err)
	if got == want {
		return ""
	}
	head := fmt.Sprintf("%s: got %s, want codes.%s.", call, describe(err), want)
	var why string
	switch {
	case got == codes.Unimplemented:
		why = "The method is still the stub's. Write it"
	case err == nil:
		why = "The call succeeded where it should have failed. Add the check"
	case errors.Is(err, io.EOF):
		why = "io.EOF is how a stream says \"no more messages\", not a status: the real status comes from the next Recv or CloseAndRecv"
	case got == codes.Unknown && want != codes.OK:
		why = fmt.Sprintf("A plain Go error (errors.New, fmt.Errorf, ctx.Err()) crosses the wire as codes.Unknown. "+
			"Return status.Error(codes.%s, \"...\") instead", want)
	case got == codes.Unavailable:
		why = "The client never reached a server. With bufconn, the target must start with \"passthrough:///\" " +
			"(or the name goes to DNS) and the dialer must return lis.DialContext(ctx)"
	case got == codes.DeadlineExceeded:
		why = fmt.Sprintf("If the test set no deadline of its own, the call hung until the test's fail-safe deadline (%v): "+
			"something on one side is blocked, waiting for the other", FailSafe)
	default:
		why = "Check which code the method returns on this path"
	}
	return fmt.Sprintf("%s\n%s: see README.md, %q.", head, why, see)
}

// describe renders an error as a status code and message.
func describe(err error) string {
	if err == nil {
		return "no error"
	}
	if errors.Is(err, io.EOF) {
		return "io.EOF"
	}
	s := status.Convert(err)
	return fmt.Sprintf("codes.%s (%q)", s.Code(), s.Message())
}

// blockedReport notes, when a call unexpectedly ended with DeadlineExceeded
// (usually the fail-safe), which operations were still in progress: the side
// that is blocked, and where.
func blockedReport(t testing.TB, err error, want codes.Code, call string) string {
	if status.Code(err) != codes.DeadlineExceeded || want == codes.DeadlineExceeded {
		return ""
	}
	return freezeAll(t, call+" ended with codes.DeadlineExceeded")
}
