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
	// TODO(lesson 07): Task 4. ServerLimits(), then the stream chain
	// (LogStream(w), auth.Stream, auth.Expire) and the unary chain
	// (LogUnary(w), auth.Unary).
	return nil
}

// ServerLimits makes the server refuse a message from a client larger than
// MaxRequestBytes, and refuse to send one larger than MaxResponseBytes.
func ServerLimits() []grpc.ServerOption {
	// TODO(lesson 07): Task 7. grpc.MaxRecvMsgSize and grpc.MaxSendMsgSize.
	return nil
}

// ClientLimits are the call options of a Telemetry client (dial with
// grpc.WithDefaultCallOptions(ClientLimits()...)): it refuses a message from
// the server larger than MaxResponseBytes, and refuses to send one larger
// than MaxRequestBytes, which the server would refuse anyway.
func ClientLimits() []grpc.CallOption {
	// TODO(lesson 07): Task 7. grpc.MaxCallRecvMsgSize and
	// grpc.MaxCallSendMsgSize.
	return nil
}
