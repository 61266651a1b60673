// Package benchpb holds the protobuf messages of the bench's gRPC rows that
// have a native twin: EchoMsg is bench.EchoMsg's fields, so that grpc-go
// streams the same message native streams as JSON (bench/messagerows.go).
package benchpb

//go:generate go tool -modfile=../../../tools/go.mod buf generate
