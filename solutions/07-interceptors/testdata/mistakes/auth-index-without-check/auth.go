// Mistake: authenticate refuses two authorization values but reads values[0]
// without checking there is one.
//
// Why it is wrong: A call with no token makes values empty: values[0]
// panics, in the server's goroutine for the call. gRPC does not recover
// panics in interceptors: the whole server process dies with it.
//
// Caught by: TestInterceptors_Auth_NoToken_Unauthenticated

package interceptors

import (
	"context"
	"errors"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/lessons/07-interceptors/interceptorspb"
)

// AuthorizationKey is the metadata key of the bearer token:
// "authorization: Bearer <token>".
const AuthorizationKey = "authorization"

// Caller is who a token belongs to, and what it allows. (Given.)
type Caller struct {
	Name      string
	CanUpload bool      // the caller may call Upload
	Expires   time.Time // the token is valid strictly before this; zero: it never expires
}

// May reports whether c may call the method named fullMethod: anyone may
// Watch and ask for the Latest reading; only a caller with CanUpload may
// Upload. (Given.)
func (c Caller) May(fullMethod string) bool {
	return fullMethod != interceptorspb.Telemetry_Upload_FullMethodName || c.CanUpload
}

type callerKey struct{}

// WithCaller returns a copy of ctx that carries c. (Given.)
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller the authentication interceptor put in ctx.
// (Given.)
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// Auth authenticates every call before its handler runs, and ends a stream
// when the caller's token expires.
type Auth struct {
	// Lookup finds the caller a token belongs to; ok is false for a token
	// nobody issued. Safe for concurrent use.
	Lookup func(token string) (c Caller, ok bool)
	// Now and AfterFunc are time.Now and time.AfterFunc(d, f).Stop, unless
	// a test gives its own clock.
	Now       func() time.Time
	AfterFunc func(d time.Duration, f func()) (stop func() bool)
}

// NewAuth returns an Auth over lookup, on the real clock. (Given.)
func NewAuth(lookup func(token string) (Caller, bool)) *Auth {
	return &Auth{
		Lookup: lookup,
		Now:    time.Now,
		AfterFunc: func(d time.Duration, f func()) func() bool {
			return time.AfterFunc(d, f).Stop
		},
	}
}

// authenticate finds the caller of a call from its incoming metadata:
// codes.Unauthenticated if there is not exactly one well-formed
// "authorization: Bearer <token>" for a token that exists and has not
// expired, codes.PermissionDenied if the caller may not call fullMethod.
// No message repeats the token: error messages end up in logs.
func (a *Auth) authenticate(ctx context.Context, fullMethod string) (Caller, error) {
	values := metadata.ValueFromIncomingContext(ctx, AuthorizationKey)
	if len(values) > 1 {
		return Caller{}, status.Errorf(codes.Unauthenticated, "want one %q metadata value, \"Bearer <token>\"; got %d", AuthorizationKey, len(values))
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return Caller{}, status.Errorf(codes.Unauthenticated, "the %q metadata must read \"Bearer <token>\"", AuthorizationKey)
	}
	caller, ok := a.Lookup(token)
	if !ok {
		return Caller{}, status.Error(codes.Unauthenticated, "unknown token")
	}
	if !caller.Expires.IsZero() && !a.Now().Before(caller.Expires) {
		return Caller{}, status.Errorf(codes.Unauthenticated, "the token of %s has expired: refresh it", caller.Name)
	}
	if !caller.May(fullMethod) {
		return Caller{}, status.Errorf(codes.PermissionDenied, "%s may not call %s", caller.Name, fullMethod)
	}
	return caller, nil
}

// Stream is a stream server interceptor: it authenticates the call once,
// before the handler runs, and hands the handler a stream whose Context
// carries the caller (CallerFrom).
func (a *Auth) Stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	caller, err := a.authenticate(ss.Context(), info.FullMethod)
	if err != nil {
		return err // the handler never runs
	}
	return handler(srv, &contextStream{ServerStream: ss, ctx: WithCaller(ss.Context(), caller)})
}

// Unary is Stream for unary calls.
func (a *Auth) Unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	caller, err := a.authenticate(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	return handler(WithCaller(ctx, caller), req)
}

// contextStream is a server stream whose Context is ctx instead of the
// original stream's: the only way to hand a stream handler a context of
// your own, since it takes no ctx argument.
type contextStream struct {
	grpc.ServerStream
	ctx context.Context
}

// Context returns the context the interceptor made.
func (s *contextStream) Context() context.Context {
	return s.ctx
}

// errTokenExpired is the cause Expire gives the handler's context.
var errTokenExpired = errors.New("the caller's token expired")

// Expire is a stream server interceptor that runs after Stream: it ends the
// stream with codes.Unauthenticated when the caller's token expires. It
// cannot stop a handler; it ends the handler's context, and the handler,
// which watches its context, returns. A call with no caller, or one whose
// token never expires, passes through.
func (a *Auth) Expire(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	caller, ok := CallerFrom(ss.Context())
	if !ok || caller.Expires.IsZero() {
		return handler(srv, ss)
	}
	ctx, cancel := context.WithCancelCause(ss.Context())
	defer cancel(nil)
	stop := a.AfterFunc(caller.Expires.Sub(a.Now()), func() { cancel(errTokenExpired) })
	err := handler(srv, &contextStream{ServerStream: ss, ctx: ctx})
	stop() // a stream that ended needs no timer: it would hold ctx until the token expires
	if err != nil && errors.Is(context.Cause(ctx), errTokenExpired) {
		return status.Errorf(codes.Unauthenticated, "the token of %s expired during the stream: refresh it and watch again", caller.Name)
	}
	return err
}
