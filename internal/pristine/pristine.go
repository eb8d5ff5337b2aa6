// Package pristine holds a copy of every lesson's stub files exactly as the
// workbook ships them, built into any binary that imports it.
//
// The learner edits lessons/NN-slug in place, so the working tree cannot say
// what the stubs looked like. This copy can: `workbook reset` restores it, and
// the verification tests check that each lesson's tests fail on it even after
// the learner has solved the lesson. `go generate ./...` refreshes it from
// lessons/ (see internal/cmd/snapshot), and the verification tests fail in CI
// when it and lessons/ disagree.
package pristine

import (
	"embed"
	"io/fs"
	"path"
	"strings"
	"testing/fstest"
)

// Suffix is added to each stored file's name, so that the Go tool does not
// take the copies for a package of their own.
const Suffix = ".stub"

// Dir is this package's folder, where the copies are stored below stubs/.
const Dir = "internal/pristine"

//go:embed all:stubs
var stored embed.FS

// Stubs returns the shipped stub files as a file system with one folder per
// lesson: "01-unary/server.go".
func Stubs() fs.FS {
	files := fstest.MapFS{}
	_ = fs.WalkDir(stored, "stubs", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, Suffix) {
			return err
		}
		data, err := fs.ReadFile(stored, p)
		if err != nil {
			return err
		}
		name := strings.TrimSuffix(strings.TrimPrefix(p, "stubs/"), Suffix)
		files[name] = &fstest.MapFile{Data: data, Mode: 0o644}
		return nil
	})
	return files
}

// Lesson returns one lesson's shipped stub files, by file name.
func Lesson(id string) (map[string][]byte, error) {
	stubs := Stubs()
	entries, err := fs.ReadDir(stubs, id)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	for _, e := range entries {
		data, err := fs.ReadFile(stubs, path.Join(id, e.Name()))
		if err != nil {
			return nil, err
		}
		files[e.Name()] = data
	}
	return files, nil
}
