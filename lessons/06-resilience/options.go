package resilience

import (
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// ServiceConfig is the client's default service config. Its retry policy has
// gRPC itself retry Publish when it fails with Unavailable: at most 4
// attempts, waiting about 0.1 s, 0.2 s, 0.4 s between them (never over 1 s).
// Publish may be repeated because of its request id; Subscribe is left to
// Follow.
func ServiceConfig() string {
	// TODO(lesson 06): Task 6. The JSON of one methodConfig for
	// workbook.resilience.v1.Feed's Publish, with the retryPolicy above.
	return `{}`
}

// Keepalive returns the two halves of one agreement: the client pings a
// connection that has been quiet for 30 s and gives up on it 10 s later; the
// server accepts pings 20 s apart or more. The client pings only while a
// call is open: the server does not accept pings on a connection with no
// call (PermitWithoutStream false on both sides).
func Keepalive() (keepalive.ClientParameters, keepalive.EnforcementPolicy) {
	// TODO(lesson 06): Task 6. The client's parameters and the server's
	// policy, as described above.
	return keepalive.ClientParameters{}, keepalive.EnforcementPolicy{}
}

// ClientOptions are the dial options of a Feed client, apart from its
// target, dialer and credentials: the retry policy of ServiceConfig, calls
// that wait for a server that is down instead of failing at once, and the
// client's half of Keepalive.
func ClientOptions() []grpc.DialOption {
	// TODO(lesson 06): Task 6. grpc.WithDefaultServiceConfig,
	// grpc.WithDefaultCallOptions(grpc.WaitForReady(true)) and
	// grpc.WithKeepaliveParams.
	return nil
}

// ServerOptions are the server's half of Keepalive. (Given.)
func ServerOptions() []grpc.ServerOption {
	_, policy := Keepalive()
	return []grpc.ServerOption{grpc.KeepaliveEnforcementPolicy(policy)}
}
