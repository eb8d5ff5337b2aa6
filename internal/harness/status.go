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
// call names what the test did, for example `SayHello(name="")`.
func RequireCode(t testing.TB, err error, want codes.Code, call string) {
	t.Helper()
	track(t)
	if msg := codeMismatch(err, want, call); msg != "" {
		t.Fatal(msg + blockedReport(t, err, want, call))
	}
}

// AssertCode is RequireCode that lets the test go on.
func AssertCode(t testing.TB, err error, want codes.Code, call string) bool {
	t.Helper()
	track(t)
	if msg := codeMismatch(err, want, call); msg != "" {
		t.Error(msg + blockedReport(t, err, want, call))
		return false
	}
	return true
}

// RequireOK stops the test if err is not nil, explaining the status it carries.
func RequireOK(t testing.TB, err error, call string) {
	t.Helper()
	RequireCode(t, err, codes.OK, call)
}

// codeMismatch returns "" when err carries the code want, and otherwise a
// message that says what came back, what was expected, and what usually
// causes the difference.
func codeMismatch(err error, want codes.Code, call string) string {
	got := status.Code(err)
	if got == want {
		return ""
	}
	head := fmt.Sprintf("%s: got %s, want codes.%s.", call, Describe(err), want)
	var why string
	switch {
	case got == codes.Unimplemented:
		why = "The method is still the stub's. Write it"
	case err == nil:
		why = "The call succeeded where it should have failed: what should refuse it is missing, or lets this case " +
			"through (a limit off by one?)"
	case errors.Is(err, io.EOF):
		why = "io.EOF is not a status. From Recv it means the stream ended with status OK; from Send, that the stream " +
			"has ended and its real status comes from Recv (or CloseAndRecv)"
	case got == codes.Unknown && want != codes.OK:
		why = fmt.Sprintf("A plain Go error (errors.New, fmt.Errorf) crosses the wire as codes.Unknown. "+
			"Return status.Error(codes.%s, \"...\") instead", want)
	case got == codes.Unavailable:
		why = "Either the server's code returned Unavailable, or the client never reached a server. If the message " +
			"speaks of connecting or name resolution: with bufconn, the target must start with \"passthrough:///\" " +
			"(or the name goes to DNS) and the dialer must return lis.DialContext(ctx)"
	case got == codes.DeadlineExceeded:
		why = fmt.Sprintf("If the test set no deadline of its own, the call hung until the test's fail-safe deadline (%v): "+
			"something on one side is blocked, waiting for the other", CallTimeout)
	default:
		why = "Check which code your code gives for this case"
	}
	return fmt.Sprintf("%s\n%s.", head, why)
}

// Describe renders an error as a test reports it: "no error", "io.EOF", or a
// status code and message.
func Describe(err error) string {
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
	return freezeAll(t, call+" ended with codes.DeadlineExceeded", true)
}
