// Package protogen compiles every lesson's .proto file and runs the Go code
// generators on it without a system protoc.
//
// The .proto files are parsed by github.com/bufbuild/protocompile, a pure-Go
// compiler. The plugins protoc-gen-go and protoc-gen-go-grpc run through
// `go tool`, at the versions pinned by the tool directives in go.mod, and speak
// the ordinary plugin protocol on stdin and stdout. The output is therefore the
// same on every machine that has Go, and Check can tell when the committed
// code is stale.
package protogen

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/linker"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"
)

// ModulePath is the module the generated files belong to. Each .proto file's
// go_package must start with it; plugins place files relative to the module root.
const ModulePath = "github.com/grpc-workbook/streaming"

// Plugins are the code generators run on every .proto file, in order.
var Plugins = []string{"protoc-gen-go", "protoc-gen-go-grpc"}

// Protos returns the lesson .proto files below root, as slash paths relative to root.
func Protos(root string) ([]string, error) {
	matches, err := filepath.Glob(filepath.Join(root, "lessons", "*", "*.proto"))
	if err != nil {
		return nil, err
	}
	var rel []string
	for _, m := range matches {
		r, err := filepath.Rel(root, m)
		if err != nil {
			return nil, err
		}
		rel = append(rel, filepath.ToSlash(r))
	}
	sort.Strings(rel)
	return rel, nil
}

// Generate compiles the lesson protos below root and returns the generated
// files, keyed by slash path relative to root.
func Generate(ctx context.Context, root string) (map[string][]byte, error) {
	protos, err := Protos(root)
	if err != nil {
		return nil, err
	}
	if len(protos) == 0 {
		return nil, fmt.Errorf("no lessons/*/*.proto below %s", root)
	}
	compiler := protocompile.Compiler{
		// Import paths are relative to the repository root, so every file's
		// registered name (lessons/01-unary/greeter.proto) is unique.
		Resolver:       protocompile.WithStandardImports(&protocompile.SourceResolver{ImportPaths: []string{root}}),
		SourceInfoMode: protocompile.SourceInfoStandard, // keeps comments for the Go doc comments
	}
	files, err := compiler.Compile(ctx, protos...)
	if err != nil {
		return nil, fmt.Errorf("compile protos: %w", err)
	}

	out := map[string][]byte{}
	for _, f := range files {
		req := &pluginpb.CodeGeneratorRequest{
			FileToGenerate: []string{f.Path()},
			Parameter:      proto.String("module=" + ModulePath),
			ProtoFile:      withDependencies(f),
		}
		for _, plugin := range Plugins {
			resp, err := runPlugin(ctx, root, plugin, req)
			if err != nil {
				return nil, fmt.Errorf("%s on %s: %w", plugin, f.Path(), err)
			}
			for _, gen := range resp.GetFile() {
				out[gen.GetName()] = []byte(gen.GetContent())
			}
		}
	}
	return out, nil
}

// withDependencies lists f and everything it imports, dependencies first, as
// the plugin protocol requires.
func withDependencies(f linker.File) []*descriptorpb.FileDescriptorProto {
	var ordered []*descriptorpb.FileDescriptorProto
	seen := map[string]bool{}
	var visit func(linker.File)
	visit = func(file linker.File) {
		if seen[file.Path()] {
			return
		}
		seen[file.Path()] = true
		imports := file.Imports()
		for i := 0; i < imports.Len(); i++ {
			dep := imports.Get(i).FileDescriptor
			if lf, ok := dep.(linker.File); ok {
				visit(lf)
			} else if !seen[dep.Path()] {
				seen[dep.Path()] = true
				ordered = append(ordered, protodesc.ToFileDescriptorProto(dep))
			}
		}
		if res, ok := file.(linker.Result); ok {
			ordered = append(ordered, res.FileDescriptorProto())
		} else {
			ordered = append(ordered, protodesc.ToFileDescriptorProto(file))
		}
	}
	visit(f)
	return ordered
}

func runPlugin(ctx context.Context, root, plugin string, req *pluginpb.CodeGeneratorRequest) (*pluginpb.CodeGeneratorResponse, error) {
	in, err := proto.Marshal(req)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "go", "tool", plugin)
	cmd.Dir = root
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	resp := &pluginpb.CodeGeneratorResponse{}
	if err := proto.Unmarshal(stdout.Bytes(), resp); err != nil {
		return nil, err
	}
	if msg := resp.GetError(); msg != "" {
		return nil, fmt.Errorf("plugin error: %s", msg)
	}
	return resp, nil
}

// Write generates the code and writes it below root.
func Write(ctx context.Context, root string) ([]string, error) {
	files, err := Generate(ctx, root)
	if err != nil {
		return nil, err
	}
	var written []string
	for _, name := range sortedKeys(files) {
		path := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, files[name], 0o644); err != nil {
			return nil, err
		}
		written = append(written, name)
	}
	return written, nil
}

// Check generates the code in memory and returns the files whose committed
// copy below root is missing or different.
func Check(ctx context.Context, root string) (stale []string, err error) {
	files, err := Generate(ctx, root)
	if err != nil {
		return nil, err
	}
	for _, name := range sortedKeys(files) {
		have, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(name)))
		if err != nil || !bytes.Equal(have, files[name]) {
			stale = append(stale, name)
		}
	}
	return stale, nil
}

func sortedKeys(m map[string][]byte) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
