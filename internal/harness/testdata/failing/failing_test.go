// Package failing is a fixture for the harness's own tests: TestFailing
// fails on purpose, so that they can check its output holds the transcript.
package failing

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/grpc-workbook/streaming/internal/harness"
)

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

func TestFailing(t *testing.T) {
	harness.RequireOK(t, say(t, "Ada"), `Say("Ada")`)
}

func TestPassing(t *testing.T) {
	harness.RequireOK(t, say(t, "Grace"), `Say("Grace")`)
}
