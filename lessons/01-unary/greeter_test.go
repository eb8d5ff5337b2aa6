package unary_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/internal/harness"
	unary "github.com/grpc-workbook/streaming/lessons/01-unary"
	"github.com/grpc-workbook/streaming/lessons/01-unary/greeterpb"
)

// startGreeter serves your Server in memory and returns a client for it.
// arrivals feeds AwaitGuest; the test closes it at the end so that no handler
// can stay blocked on it.
func startGreeter(t *testing.T) (greeterpb.GreeterClient, *harness.Server, chan<- string) {
	t.Helper()
	arrivals := make(chan string)
	srv := harness.Start(t, func(s *grpc.Server) {
		greeterpb.RegisterGreeterServer(s, unary.NewServer(arrivals))
	})
	t.Cleanup(func() { close(arrivals) })
	return greeterpb.NewGreeterClient(srv.Conn), srv, arrivals
}

func TestUnary_SayHello_GreetsByName(t *testing.T) {
	client, _, _ := startGreeter(t)

	reply, err := client.SayHello(harness.Context(t), &greeterpb.HelloRequest{Name: "Ada"})
	harness.RequireOK(t, err, `SayHello(name="Ada")`)
	assert.Equal(t, "Hello, Ada!", reply.GetMessage(), `SayHello(name="Ada")'s reply`)
}

func TestUnary_SayHello_EmptyName_InvalidArgument(t *testing.T) {
	client, _, _ := startGreeter(t)

	_, err := client.SayHello(harness.Context(t), &greeterpb.HelloRequest{Name: ""})
	harness.RequireCode(t, err, codes.InvalidArgument, `SayHello(name="")`)
	assert.Contains(t, statusMessage(err), "name",
		"the message should say which field is wrong, so the caller can fix the request")
}

func TestUnary_SayHello_NameLength_LimitIsInCharacters(t *testing.T) {
	client, _, _ := startGreeter(t)
	cases := []struct {
		desc string
		name string
		want codes.Code
	}{
		{"64 ASCII letters are allowed", strings.Repeat("a", unary.MaxNameLength), codes.OK},
		{"65 ASCII letters are too many", strings.Repeat("a", unary.MaxNameLength+1), codes.InvalidArgument},
		// "é" is two bytes in UTF-8: counting bytes would reject this name.
		{"64 accented letters are allowed", strings.Repeat("é", unary.MaxNameLength), codes.OK},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := client.SayHello(harness.Context(t), &greeterpb.HelloRequest{Name: tc.name})
			harness.AssertCode(t, err, tc.want, "SayHello with "+tc.desc)
		})
	}
}

func TestUnary_SayGoodbye_AfterHello_SeesGuestOff(t *testing.T) {
	client, _, _ := startGreeter(t)
	ctx := harness.Context(t)

	_, err := client.SayHello(ctx, &greeterpb.HelloRequest{Name: "Grace"})
	harness.RequireOK(t, err, `SayHello(name="Grace")`)

	reply, err := client.SayGoodbye(ctx, &greeterpb.GoodbyeRequest{Name: "Grace"})
	harness.RequireOK(t, err, `SayGoodbye(name="Grace") after SayHello`)
	assert.Equal(t, "Goodbye, Grace!", reply.GetMessage(), "SayGoodbye's reply")
}

func TestUnary_SayGoodbye_Stranger_NotFound(t *testing.T) {
	client, _, _ := startGreeter(t)

	_, err := client.SayGoodbye(harness.Context(t), &greeterpb.GoodbyeRequest{Name: "Stranger"})
	harness.RequireCode(t, err, codes.NotFound, `SayGoodbye(name="Stranger") with no SayHello first`)
	assert.Contains(t, statusMessage(err), "Stranger", "the message should name the guest nobody greeted")
}

func TestUnary_SayGoodbye_Twice_SecondIsNotFound(t *testing.T) {
	client, _, _ := startGreeter(t)
	ctx := harness.Context(t)

	_, err := client.SayHello(ctx, &greeterpb.HelloRequest{Name: "Linus"})
	harness.RequireOK(t, err, `SayHello(name="Linus")`)
	_, err = client.SayGoodbye(ctx, &greeterpb.GoodbyeRequest{Name: "Linus"})
	harness.RequireOK(t, err, `first SayGoodbye(name="Linus")`)

	_, err = client.SayGoodbye(ctx, &greeterpb.GoodbyeRequest{Name: "Linus"})
	harness.RequireCode(t, err, codes.NotFound, `second SayGoodbye(name="Linus")`)
}

// TestUnary_SayHello_BadName_DetailsNameTheField reads the status details a
// rejection carries: a program can see which field to fix without parsing
// the message.
func TestUnary_SayHello_BadName_DetailsNameTheField(t *testing.T) {
	harness.See(t)
	client, _, _ := startGreeter(t)
	for _, name := range []string{"", strings.Repeat("a", unary.MaxNameLength+1)} {
		_, err := client.SayHello(harness.Context(t), &greeterpb.HelloRequest{Name: name})
		call := fmt.Sprintf("SayHello(name of %d characters)", len(name))
		harness.RequireCode(t, err, codes.InvalidArgument, call)

		var violations []*errdetails.BadRequest_FieldViolation
		for _, detail := range status.Convert(err).Details() {
			if br, ok := detail.(*errdetails.BadRequest); ok {
				violations = append(violations, br.GetFieldViolations()...)
			}
		}
		require.Len(t, violations, 1, "%s: want exactly one errdetails.BadRequest field violation in the status details", call)
		assert.Equal(t, "name", violations[0].GetField(), "%s: the violation's field", call)
		assert.NotEmpty(t, violations[0].GetDescription(), "%s: the violation should say what is wrong", call)
	}
}
