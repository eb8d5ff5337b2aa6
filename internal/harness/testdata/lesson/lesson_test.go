package lesson_test

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/internal/harness"
	"github.com/grpc-workbook/streaming/internal/harness/testdata/lesson"
)

// refuser is the test's own server: grpc's health service, whose Check
// refuses "Ada".
type refuser struct {
	healthpb.UnimplementedHealthServer
}

func (refuser) Check(_ context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if req.GetService() == "Ada" {
		return nil, status.Error(codes.InvalidArgument, "no Ada here")
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

func say(t *testing.T, name string) error {
	srv := harness.Start(t, func(s *grpc.Server) { healthpb.RegisterHealthServer(s, refuser{}) })
	_, err := healthpb.NewHealthClient(srv.Conn).Check(harness.Context(t), &healthpb.HealthCheckRequest{Service: name})
	return err
}

func TestSay_Fails(t *testing.T) {
	harness.RequireOK(t, say(t, "Ada"), `Check(service="Ada")`)
}

func TestSay_Passes(t *testing.T) {
	harness.RequireOK(t, say(t, "Grace"), `Check(service="Grace")`)
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
	hub.Publish() // line 56: no Call, so only the watchdog can end it
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
