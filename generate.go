// Package streaming is the root of the gRPC streaming workbook. It holds no
// code of its own, only the go:generate lines that rebuild what is generated:
//
//	go generate ./...
//
// regenerates every lesson's protobuf code and the snapshot of the shipped
// stubs that `workbook reset` and the verification tests use.
package streaming

//go:generate go run ./internal/cmd/protogen
//go:generate go run ./internal/cmd/snapshot
