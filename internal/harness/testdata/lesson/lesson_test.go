package lesson_test

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/grpc-workbook/streaming/internal/harness"
	"github.com/grpc-workbook/streaming/internal/harness/testdata/lesson"
)

// desc is a one-method service, Say, that refuses "Ada".
var desc = grpc.ServiceDesc{
	ServiceName: "fixture.Echo",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Say",
		Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.StringValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			h := func(_ context.Context, req any) (any, error) {
				if req.(*wrapperspb.StringValue).GetValue() == "Ada" {
					return nil, status.Error(codes.InvalidArgument, "no Ada here")
				}
				return req, nil
			}
			return interceptor(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: "/fixture.Echo/Say"}, h)
		},
	}},
}

func say(t *testing.T, name string) error {
	srv := harness.Start(t, func(s *grpc.Server) { s.RegisterService(&desc, struct{}{}) })
	return srv.Conn.Invoke(harness.Context(t), "/fixture.Echo/Say", wrapperspb.String(name), new(wrapperspb.StringValue))
}

func TestSay_Fails(t *testing.T) {
	harness.RequireOK(t, say(t, "Ada"), `Say("Ada")`)
}

func TestSay_Passes(t *testing.T) {
	harness.RequireOK(t, say(t, "Grace"), `Say("Grace")`)
}

func TestUnlisted(t *testing.T) {
	harness.See(t)
	t.Error("fails on purpose; no task lists it")
}

func TestCall_PublishDeadlocks(t *testing.T) {
	hub := new(lesson.Hub)
	harness.Call(t, "hub.Publish()", hub.Publish)
}

func TestHang(t *testing.T) {
	harness.See(t)
	hub := new(lesson.Hub)
	hub.Publish() // line 64: no Call, so only the watchdog can end it
}

func TestCrash(t *testing.T) {
	harness.See(t)
	lesson.StartBroken()
	harness.Wait(t, make(chan int), "the crash")
}

func TestLeak(t *testing.T) {
	harness.See(t)
	lesson.Leak()
}
