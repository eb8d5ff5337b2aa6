// Mistake: DialInMemory sets the target and the credentials but no dialer.
//
// Why it is wrong: without grpc.WithContextDialer the client dials "bufnet"
// over the operating system's network, which has no such address; the
// connection must come from lis.DialContext.
//
// Caught by: TestUnary_DialInMemory_ReachesServer

package unary

import (
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
)

// DialInMemory returns a client connection to the server listening on lis.
//
// lis is a bufconn listener: a "network" that lives in memory, so tests need
// no ports and no sockets. A gRPC client normally dials an address through the
// operating system; here it must be told to ask lis for a connection instead.
func DialInMemory(_ *bufconn.Listener) (*grpc.ClientConn, error) {
	// "passthrough:///" hands the address to the dialer untouched. Without it
	// NewClient resolves "bufnet" with DNS, finds nothing, and every call
	// fails with codes.Unavailable.
	return grpc.NewClient("passthrough:///bufnet",
		// bufconn never leaves the process, so there is nothing to encrypt.
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	)
}
