// Mistake: GetRequestMetadata turns the source's error into codes.Internal.
//
// Why it is wrong: A call without a token is unauthenticated; gRPC makes a
// plain error from GetRequestMetadata codes.Unauthenticated by itself, and a
// status error keeps its own code.
//
// Caught by: TestInterceptors_TokenCredentials_SourceFails_Unauthenticated

package interceptors

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// TokenSource hands out the current token, such as one an identity provider
// issued. Safe for concurrent use.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// TokenCredentials puts "authorization: Bearer <token>" on every call of
// the connection it is dialed with (grpc.WithPerRPCCredentials), asking
// Source for the token each time, so a refreshed token is used from the next
// call on.
type TokenCredentials struct {
	Source TokenSource
}

var _ credentials.PerRPCCredentials = TokenCredentials{}

// GetRequestMetadata returns the metadata gRPC adds to each call. An error
// fails the call: a plain error as codes.Unauthenticated.
func (c TokenCredentials) GetRequestMetadata(ctx context.Context, uri ...string) (map[string]string, error) {
	token, err := c.Source.Token(ctx)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "getting a token: %v", err)
	}
	return map[string]string{AuthorizationKey: "Bearer " + token}, nil
}

// RequireTransportSecurity reports whether gRPC may send these credentials
// only over an encrypted connection. A bearer token is a password anyone who
// reads it can use: yes.
func (TokenCredentials) RequireTransportSecurity() bool {
	return true
}
