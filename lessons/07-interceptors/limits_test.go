package interceptors_test

import (
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/grpc-workbook/streaming/internal/harness"
	interceptors "github.com/grpc-workbook/streaming/lessons/07-interceptors"
	"github.com/grpc-workbook/streaming/lessons/07-interceptors/interceptorspb"
)

// Each test of Task 7 puts your limits on one side only (the other keeps
// gRPC's defaults: 4 MiB received, no limit sent), sends a message of
// exactly the limit, which must pass, then one a byte larger, and checks
// which side reported what. Sizes are what gRPC counts: the encoded message
// (proto.Size), without gRPC's 5-byte frame header.

// serverLimits returns your ServerLimits.
func serverLimits(t *testing.T) []grpc.ServerOption {
	t.Helper()
	var opts []grpc.ServerOption
	harness.Call(t, "ServerLimits()", func() { opts = interceptors.ServerLimits() })
	return opts
}

// clientLimits returns your ClientLimits as a dial option.
func clientLimits(t *testing.T) grpc.DialOption {
	t.Helper()
	var opts []grpc.CallOption
	harness.Call(t, "ClientLimits()", func() { opts = interceptors.ClientLimits() })
	return grpc.WithDefaultCallOptions(opts...)
}

// TestInterceptors_Limits_ServerRefusesLargeRequests expects the server to
// take an Upload message of MaxRequestBytes and to refuse one a byte larger
// with codes.ResourceExhausted: gRPC fails the handler's Recv and sends the
// client that status. The server made with ServerOptions does the same.
func TestInterceptors_Limits_ServerRefusesLargeRequests(t *testing.T) {
	b := serve(t, setup{server: serverLimits(t)})
	ctx := harness.Context(t)

	summary, err := upload(t, ctx, b.client, readingOfSize(t, interceptors.MaxRequestBytes))
	harness.RequireOK(t, err, "Upload of a reading of exactly MaxRequestBytes")
	assert.Equal(t, uint32(1), summary.GetStored(), "readings stored")
	b.nextEnded(t, "the server to end the first Upload")

	_, err = upload(t, ctx, b.client, readingOfSize(t, interceptors.MaxRequestBytes+1))
	harness.AssertCode(t, err, codes.ResourceExhausted, "Upload of a reading of MaxRequestBytes+1, client side")
	end := b.nextEnded(t, "the server to end the second Upload")
	harness.AssertCode(t, end.err, codes.ResourceExhausted, "Upload of a reading of MaxRequestBytes+1, server side: the handler's Recv error")
	assert.Equal(t, 1, b.stations.storedCount(), "readings stored in all")

	t.Run("through ServerOptions", func(t *testing.T) {
		auth, _ := newAuth()
		var opts []grpc.ServerOption
		harness.Call(t, "ServerOptions(io.Discard, auth)", func() { opts = interceptors.ServerOptions(io.Discard, auth) })
		b := serve(t, setup{server: opts, dial: []grpc.DialOption{grpc.WithPerRPCCredentials(&bearer{token: "tok-ada"})}})
		_, err := upload(t, harness.Context(t), b.client, readingOfSize(t, interceptors.MaxRequestBytes+1))
		harness.AssertCode(t, err, codes.ResourceExhausted, "Upload of MaxRequestBytes+1 to a server made with ServerOptions: add ServerLimits() to them")
	})
}

// TestInterceptors_Limits_ServerRefusesToSendLargeReplies expects the
// server to send a reading of MaxResponseBytes and to refuse one a byte
// larger: the handler's Send fails with codes.ResourceExhausted, which
// gRPC also sends the client. Latest's reply is held to the same limit.
func TestInterceptors_Limits_ServerRefusesToSendLargeReplies(t *testing.T) {
	b := serve(t, setup{server: serverLimits(t)})
	ctx := harness.Context(t)

	stream, err := b.client.Watch(ctx, &interceptorspb.WatchRequest{Station: "summit"})
	harness.RequireOK(t, err, `Watch("summit")`)
	f := b.stations.nextFollow(t)
	f.send(t, readingOfSize(t, interceptors.MaxResponseBytes))
	_, err = stream.Recv()
	harness.RequireOK(t, err, "Recv of a reading of exactly MaxResponseBytes")

	f.send(t, readingOfSize(t, interceptors.MaxResponseBytes+1))
	_, err = stream.Recv()
	harness.RequireCode(t, err, codes.ResourceExhausted, "Recv of a reading of MaxResponseBytes+1, client side") // else the Watch goes on
	end := b.nextEnded(t, "the server to end the Watch")
	harness.AssertCode(t, end.err, codes.ResourceExhausted, "the Watch of a reading of MaxResponseBytes+1, server side: the handler's Send error")

	b.stations.setLatest(readingOfSize(t, interceptors.MaxResponseBytes+1))
	_, err = b.client.Latest(ctx, &interceptorspb.LatestRequest{Station: "summit"})
	harness.AssertCode(t, err, codes.ResourceExhausted, "Latest of a reading of MaxResponseBytes+1")
	b.stations.setLatest(readingOfSize(t, interceptors.MaxResponseBytes))
	_, err = b.client.Latest(ctx, &interceptorspb.LatestRequest{Station: "summit"})
	harness.AssertCode(t, err, codes.OK, "Latest of a reading of exactly MaxResponseBytes")
}

// TestInterceptors_Limits_ClientRefusesLargeReplies expects a client with
// your ClientLimits to take a reading of MaxResponseBytes and to refuse one
// a byte larger: its Recv fails with codes.ResourceExhausted, and it resets
// the stream, so the server sees codes.Canceled.
func TestInterceptors_Limits_ClientRefusesLargeReplies(t *testing.T) {
	b := serve(t, setup{dial: []grpc.DialOption{clientLimits(t)}})

	stream, err := b.client.Watch(harness.Context(t), &interceptorspb.WatchRequest{Station: "summit"})
	harness.RequireOK(t, err, `Watch("summit")`)
	f := b.stations.nextFollow(t)
	f.send(t, readingOfSize(t, interceptors.MaxResponseBytes))
	_, err = stream.Recv()
	harness.RequireOK(t, err, "Recv of a reading of exactly MaxResponseBytes")

	f.send(t, readingOfSize(t, interceptors.MaxResponseBytes+1))
	_, err = stream.Recv()
	harness.RequireCode(t, err, codes.ResourceExhausted, "Recv of a reading of MaxResponseBytes+1, client side") // else the Watch goes on
	end := b.nextEnded(t, "the server to end the Watch")
	harness.AssertCode(t, end.err, codes.Canceled, "the Watch of a reading the client refused, server side")
}

// TestInterceptors_Limits_ClientRefusesToSendLargeRequests expects a client
// with your ClientLimits to send an Upload message of MaxRequestBytes and to
// refuse one a byte larger: Send itself returns codes.ResourceExhausted
// (an error the client made, not io.EOF), and nothing reaches the server,
// which sees codes.Canceled.
func TestInterceptors_Limits_ClientRefusesToSendLargeRequests(t *testing.T) {
	b := serve(t, setup{dial: []grpc.DialOption{clientLimits(t)}})
	ctx := harness.Context(t)

	_, err := upload(t, ctx, b.client, readingOfSize(t, interceptors.MaxRequestBytes))
	harness.RequireOK(t, err, "Upload of a reading of exactly MaxRequestBytes")
	b.nextEnded(t, "the server to end the first Upload")

	stream, err := b.client.Upload(ctx)
	harness.RequireOK(t, err, "Upload")
	err = stream.Send(readingOfSize(t, interceptors.MaxRequestBytes+1))
	harness.RequireCode(t, err, codes.ResourceExhausted, "Send of a reading of MaxRequestBytes+1, on the client") // else the Upload goes on
	end := b.nextEnded(t, "the server to end the second Upload")
	harness.AssertCode(t, end.err, codes.Canceled, "the Upload whose client refused to send, server side")
	assert.Equal(t, 1, b.stations.storedCount(), "readings stored in all: the large one never left the client")
}
