// Command protogen regenerates the Go code of every lesson's .proto file.
//
// Run it from the repository root, through `go generate ./...`:
//
//	go generate ./...
//
// It needs nothing but Go: see package internal/protogen.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/grpc-workbook/streaming/internal/protogen"
)

func main() {
	written, err := protogen.Write(context.Background(), ".")
	if err != nil {
		fmt.Fprintln(os.Stderr, "protogen:", err)
		os.Exit(1)
	}
	for _, name := range written {
		fmt.Println("wrote", name)
	}
}
