// Mistake: the target is "bufnet", without passthrough:///.
//
// Why it is wrong: grpc.NewClient resolves a target with DNS unless its scheme
// says otherwise; there is no host called bufnet, so every call fails with
// codes.Unavailable before the dialer is ever asked.
//
// Caught by: TestUnary_DialInMemory_ReachesServer

package unary

import (
	"context"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
)

// DialInMemory returns a client connection to the server listening on lis.
//
// lis is a bufconn listener: a "network" that lives in memory, so tests need
// no ports and no sockets. A gRPC client normally dials an address through the
// operating system; here it must be told to ask lis for a connection instead.
func DialInMemory(lis *bufconn.Listener) (*grpc.ClientConn, error) {
	// "passthrough:///" hands the address to the dialer untouched. Without it
	// NewClient resolves "bufnet" with DNS, finds nothing, and every call
	// fails with codes.Unavailable.
	return grpc.NewClient("bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return lis.DialContext(ctx)
		}),
		// bufconn never leaves the process, so there is nothing to encrypt.
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	)
}
