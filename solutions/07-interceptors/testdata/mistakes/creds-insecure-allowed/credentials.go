// Mistake: TokenCredentials does not require transport security.
//
// Why it is wrong: gRPC then sends the bearer token over a connection in
// clear text, where anyone on the path can read it and use it.
//
// Caught by: TestInterceptors_TokenCredentials_OnlyOverTLS

package interceptors

import (
	"context"

	"google.golang.org/grpc/credentials"
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
		return nil, err
	}
	return map[string]string{AuthorizationKey: "Bearer " + token}, nil
}

// RequireTransportSecurity reports whether gRPC may send these credentials
// only over an encrypted connection. A bearer token is a password anyone who
// reads it can use: yes.
func (TokenCredentials) RequireTransportSecurity() bool {
	return false // so that it works without TLS too
}
