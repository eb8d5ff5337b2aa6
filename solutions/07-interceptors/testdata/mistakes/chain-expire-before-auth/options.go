// Mistake: ServerOptions chains Expire before auth.Stream.
//
// Why it is wrong: Expire runs first and finds no caller in the context
// (auth.Stream has not put one there yet), so no stream ever expires.
//
// Caught by: TestInterceptors_ServerOptions_ExpiryInsideAuthentication

package interceptors

import (
	"io"

	"google.golang.org/grpc"
)

// The largest messages, encoded, that each side accepts. A station's upload
// carries a camera image; what the server sends carries a thumbnail.
const (
	MaxRequestBytes  = 64 << 10 // client to server: Upload's readings, requests
	MaxResponseBytes = 16 << 10 // server to client: Watch's readings, replies
)

// ServerOptions returns every option the Telemetry server is made with: its
// limits, and its interceptors, outermost first: logging (so a call that
// authentication rejects is logged too), then authentication, then expiry
// (which needs the caller that authentication found).
func ServerOptions(w io.Writer, auth *Auth) []grpc.ServerOption {
	return append(ServerLimits(),
		grpc.ChainStreamInterceptor(LogStream(w), auth.Expire, auth.Stream),
		grpc.ChainUnaryInterceptor(LogUnary(w), auth.Unary),
	)
}

// ServerLimits makes the server refuse a message from a client larger than
// MaxRequestBytes, and refuse to send one larger than MaxResponseBytes.
func ServerLimits() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxRequestBytes),
		grpc.MaxSendMsgSize(MaxResponseBytes),
	}
}

// ClientLimits are the call options of a Telemetry client (dial with
// grpc.WithDefaultCallOptions(ClientLimits()...)): it refuses a message from
// the server larger than MaxResponseBytes, and refuses to send one larger
// than MaxRequestBytes, which the server would refuse anyway.
func ClientLimits() []grpc.CallOption {
	return []grpc.CallOption{
		grpc.MaxCallRecvMsgSize(MaxResponseBytes),
		grpc.MaxCallSendMsgSize(MaxRequestBytes),
	}
}
