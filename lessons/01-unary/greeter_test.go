package unary_test

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/grpc-workbook/streaming/internal/harness"
	unary "github.com/grpc-workbook/streaming/lessons/01-unary"
	"github.com/grpc-workbook/streaming/lessons/01-unary/greeterpb"
)

// --- Task 2 ---------------------------------------------------------------

// TestUnary_SayHello_GreetsByName expects "Hello, <name>!" for each guest.
func TestUnary_SayHello_GreetsByName(t *testing.T) {
	d := startGreeter(t)
	for _, name := range []string{"Ada", "Zoë"} {
		call := fmt.Sprintf("SayHello(name=%q)", name)
		reply, err := d.client.SayHello(harness.Context(t), &greeterpb.HelloRequest{Name: name})
		harness.RequireOK(t, err, call)
		assert.Equal(t, "Hello, "+name+"!", reply.GetMessage(), "%s: the reply", call)
	}
}

// --- Task 3 ---------------------------------------------------------------

// TestUnary_SayHello_EmptyName_InvalidArgument expects an empty name to be
// rejected with codes.InvalidArgument and a message that names the field.
func TestUnary_SayHello_EmptyName_InvalidArgument(t *testing.T) {
	d := startGreeter(t)

	_, err := d.client.SayHello(harness.Context(t), &greeterpb.HelloRequest{Name: ""})
	harness.RequireCode(t, err, codes.InvalidArgument, `SayHello(name="")`)
	assert.Contains(t, statusMessage(err), "name",
		"the message should say which field is wrong, so the caller can fix the request")
}

// TestUnary_SayHello_NameLength_LimitIsInCharacters expects names of up to
// MaxNameLength (64) characters to be accepted and longer ones rejected with
// codes.InvalidArgument and a message that gives the limit, counting
// characters, not bytes: "é" is one character and two bytes.
func TestUnary_SayHello_NameLength_LimitIsInCharacters(t *testing.T) {
	d := startGreeter(t)
	limit := unary.MaxNameLength
	cases := []struct {
		desc string
		name string
		want codes.Code
	}{
		{"64 ASCII letters are allowed", strings.Repeat("a", limit), codes.OK},
		{"65 ASCII letters are too many", strings.Repeat("a", limit+1), codes.InvalidArgument},
		{"64 accented letters (128 bytes) are allowed", strings.Repeat("é", limit), codes.OK},
		{"65 accented letters are too many", strings.Repeat("é", limit+1), codes.InvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			call := "SayHello with " + tc.desc
			_, err := d.client.SayHello(harness.Context(t), &greeterpb.HelloRequest{Name: tc.name})
			harness.RequireCode(t, err, tc.want, call)
			if tc.want != codes.OK {
				assert.Contains(t, statusMessage(err), strconv.Itoa(limit),
					"%s: the message should give the limit, so the caller knows what to fix", call)
			}
		})
	}
}

// --- Task 4 ---------------------------------------------------------------

// TestUnary_SayGoodbye_AfterHello_SeesGuestOff expects a greeted guest to be
// seen off with "Goodbye, <name>!".
func TestUnary_SayGoodbye_AfterHello_SeesGuestOff(t *testing.T) {
	d := startGreeter(t)
	ctx := harness.Context(t)
	for _, name := range []string{"Grace", "Zoë"} {
		_, err := d.client.SayHello(ctx, &greeterpb.HelloRequest{Name: name})
		harness.RequireOK(t, err, fmt.Sprintf("SayHello(name=%q)", name))

		call := fmt.Sprintf("SayGoodbye(name=%q) after SayHello", name)
		reply, err := d.client.SayGoodbye(ctx, &greeterpb.GoodbyeRequest{Name: name})
		harness.RequireOK(t, err, call)
		assert.Equal(t, "Goodbye, "+name+"!", reply.GetMessage(), "%s: the reply", call)
	}
}

// TestUnary_SayGoodbye_Stranger_NotFound expects a guest nobody greeted to
// be answered with codes.NotFound and a message that names the guest.
func TestUnary_SayGoodbye_Stranger_NotFound(t *testing.T) {
	d := startGreeter(t)

	_, err := d.client.SayGoodbye(harness.Context(t), &greeterpb.GoodbyeRequest{Name: "Stranger"})
	harness.RequireCode(t, err, codes.NotFound, `SayGoodbye(name="Stranger") with no SayHello first`)
	assert.Contains(t, statusMessage(err), "Stranger", "the message should name the guest nobody greeted")
}

// TestUnary_SayGoodbye_Twice_SecondIsNotFound expects a guest seen off once
// to be gone: the second goodbye is codes.NotFound.
func TestUnary_SayGoodbye_Twice_SecondIsNotFound(t *testing.T) {
	d := startGreeter(t)
	ctx := harness.Context(t)

	_, err := d.client.SayHello(ctx, &greeterpb.HelloRequest{Name: "Linus"})
	harness.RequireOK(t, err, `SayHello(name="Linus")`)
	_, err = d.client.SayGoodbye(ctx, &greeterpb.GoodbyeRequest{Name: "Linus"})
	harness.RequireOK(t, err, `first SayGoodbye(name="Linus")`)

	_, err = d.client.SayGoodbye(ctx, &greeterpb.GoodbyeRequest{Name: "Linus"})
	harness.RequireCode(t, err, codes.NotFound, `second SayGoodbye(name="Linus")`)
}

// TestUnary_SayGoodbye_RejectedName_NotFound expects a name SayHello rejected
// never to count as greeted: SayHello validates before it remembers anyone.
func TestUnary_SayGoodbye_RejectedName_NotFound(t *testing.T) {
	d := startGreeter(t)
	ctx := harness.Context(t)
	for _, name := range []string{"", strings.Repeat("a", unary.MaxNameLength+1)} {
		size := fmt.Sprintf("a name of %d characters", len(name))
		_, err := d.client.SayHello(ctx, &greeterpb.HelloRequest{Name: name})
		harness.RequireCode(t, err, codes.InvalidArgument, "SayHello with "+size)

		_, err = d.client.SayGoodbye(ctx, &greeterpb.GoodbyeRequest{Name: name})
		harness.RequireCode(t, err, codes.NotFound, "SayGoodbye with "+size+" that SayHello rejected")
	}
}

// TestUnary_SayHelloAndGoodbye_ManyGuestsAtOnce expects every greeting and
// goodbye to succeed while 4 goroutines call at once, each for a guest of its
// own. gRPC runs each call's handler on its own goroutine, so handlers share
// the map of greeted guests; the test calls your Server's methods directly,
// from goroutines started together, so that a map touched without its lock is
// reported by `go test -race` every time.
func TestUnary_SayHelloAndGoodbye_ManyGuestsAtOnce(t *testing.T) {
	const guests, visits = 4, 5
	server := unary.NewServer(nil)
	ctx := harness.Context(t)

	failures := make(chan string, guests)
	call := fmt.Sprintf("SayHello then SayGoodbye, %d times each, from %d goroutines at once", visits, guests)
	harness.Call(t, call, func() {
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range guests {
			name := fmt.Sprintf("Guest %d", i)
			wg.Go(func() {
				defer func() {
					if v := recover(); v != nil {
						failures <- fmt.Sprintf("a call for %q panicked: %v", name, v)
					}
				}()
				<-start
				for range visits {
					if _, err := server.SayHello(ctx, &greeterpb.HelloRequest{Name: name}); err != nil {
						failures <- fmt.Sprintf("SayHello(name=%q): %s", name, harness.Describe(err))
						return
					}
					if _, err := server.SayGoodbye(ctx, &greeterpb.GoodbyeRequest{Name: name}); err != nil {
						failures <- fmt.Sprintf("SayGoodbye(name=%q) right after its SayHello: %s", name, harness.Describe(err))
						return
					}
				}
			})
		}
		close(start)
		wg.Wait()
	})
	close(failures)
	var got []string
	for f := range failures {
		got = append(got, f)
	}
	assert.Empty(t, got, "every call should succeed with %d goroutines calling at once", guests)
}

// --- Task 6 ---------------------------------------------------------------

// TestUnary_SayHello_BadName_DetailsNameTheField expects both rejections of
// Task 3 to carry, in their status details, an errdetails.BadRequest with
// exactly one field violation, for the field "name".
func TestUnary_SayHello_BadName_DetailsNameTheField(t *testing.T) {
	d := startGreeter(t)
	cases := []struct{ desc, name string }{
		{"an empty name", ""},
		{"a name of 65 characters", strings.Repeat("a", unary.MaxNameLength+1)},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			call := "SayHello with " + tc.desc
			_, err := d.client.SayHello(harness.Context(t), &greeterpb.HelloRequest{Name: tc.name})
			harness.RequireCode(t, err, codes.InvalidArgument, call)

			violations := fieldViolations(err)
			require.Len(t, violations, 1, "%s: the errdetails.BadRequest field violations in the status details", call)
			assert.Equal(t, "name", violations[0].GetField(), "%s: the violation's field", call)
			assert.NotEmpty(t, violations[0].GetDescription(), "%s: the violation should say what is wrong", call)
		})
	}
}
