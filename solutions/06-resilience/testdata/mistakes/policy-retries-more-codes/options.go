// Mistake: The retry policy also retries ResourceExhausted and
// DeadlineExceeded.
//
// Why it is wrong: Task 1 says why neither can be retried blind; a retry
// policy is the same decision made in JSON.
//
// Caught by: TestResilience_ServiceConfig_RetriesPublishOnUnavailable

package resilience

import (
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// ServiceConfig is the client's default service config. Its retry policy has
// gRPC itself retry Publish when it fails with Unavailable: at most 4
// attempts, waiting about 0.1 s, 0.2 s, 0.4 s between them (never over 1 s).
// Publish may be repeated because of its request id; Subscribe is left to
// Follow.
func ServiceConfig() string {
	return `{
  "methodConfig": [{
    "name": [{"service": "workbook.resilience.v1.Feed", "method": "Publish"}],
    "retryPolicy": {
      "maxAttempts": 4,
      "initialBackoff": "0.1s",
      "maxBackoff": "1s",
      "backoffMultiplier": 2,
      "retryableStatusCodes": ["UNAVAILABLE", "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED"]
    }
  }]
}`
}

// Keepalive returns the two halves of one agreement: the client pings a
// connection that has been quiet for 30 s and gives up on it 10 s later; the
// server accepts pings 20 s apart or more. The client pings only while a
// call is open: the server does not accept pings on a connection with no
// call (PermitWithoutStream false on both sides).
func Keepalive() (keepalive.ClientParameters, keepalive.EnforcementPolicy) {
	return keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second},
		keepalive.EnforcementPolicy{MinTime: 20 * time.Second}
}

// ClientOptions are the dial options of a Feed client, apart from its
// target, dialer and credentials: the retry policy of ServiceConfig, calls
// that wait for a server that is down instead of failing at once, and the
// client's half of Keepalive.
func ClientOptions() []grpc.DialOption {
	client, _ := Keepalive()
	return []grpc.DialOption{
		grpc.WithDefaultServiceConfig(ServiceConfig()),
		grpc.WithDefaultCallOptions(grpc.WaitForReady(true)),
		grpc.WithKeepaliveParams(client),
	}
}

// ServerOptions are the server's half of Keepalive. (Given.)
func ServerOptions() []grpc.ServerOption {
	_, policy := Keepalive()
	return []grpc.ServerOption{grpc.KeepaliveEnforcementPolicy(policy)}
}
