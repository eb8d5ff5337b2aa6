package workbook

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"time"

	"github.com/grpc-workbook/streaming/internal/lessons"
)

// backupDir keeps every file that reset or restore replaces, one folder per
// lesson and per time: .workbook/backup/01-unary/20260102-150405.000/. The
// .workbook folder is the runner's own and git ignores it.
const backupDir = ".workbook/backup"

// resetCmd is `reset LESSON` and `reset --all`: the shipped stubs go back,
// and the learner's versions go to a backup first, so nothing is lost.
func (w *Workbook) resetCmd(args []string) error {
	p, err := parseArgs("reset", args, []string{"yes", "all"}, nil)
	if err != nil {
		return err
	}
	var targets []lessons.Lesson
	switch {
	case p.bools["all"] && len(p.args) == 0:
		if targets, err = w.discover(); err != nil {
			return err
		}
	case !p.bools["all"] && len(p.args) == 1:
		l, _, err := w.find(p.args[0])
		if err != nil {
			return err
		}
		targets = []lessons.Lesson{l}
	default:
		return usagef("usage: go run ./cmd/workbook reset LESSON [--yes], or reset --all [--yes]")
	}
	shipped := map[string]map[string][]byte{} // lesson ID -> file name -> stub
	for _, l := range targets {
		if shipped[l.ID], err = w.stubsOf(l); err != nil {
			return err
		}
	}
	if !p.bools["yes"] {
		fmt.Fprintf(w.Out, "This puts back lesson files as shipped. Your versions are kept in %s/ first,\nand `go run ./cmd/workbook restore LESSON` brings them back.\n", backupDir)
		if !w.confirm("Reset?") {
			fmt.Fprintln(w.Out, "Nothing changed.")
			return nil
		}
	}
	s := w.loadState()
	for _, l := range targets {
		if err := w.replace(l, shipped[l.ID], "as shipped"); err != nil {
			return err
		}
		delete(s.Hints, l.ID) // the hints start over with the lesson
		delete(s.Lessons, l.ID)
	}
	return w.saveState(s)
}

// stubsOf returns lesson l's shipped stub files, by name.
func (w *Workbook) stubsOf(l lessons.Lesson) (map[string][]byte, error) {
	entries, err := fs.ReadDir(w.Stubs, l.ID)
	if err != nil || len(entries) == 0 {
		return nil, fmt.Errorf("this build of the workbook has no shipped copy of lesson %s's files (run `go generate ./...` if you are its author)", l.ID)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		if files[e.Name()], err = fs.ReadFile(w.Stubs, path.Join(l.ID, e.Name())); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// restoreCmd is `restore LESSON`: the newest backup of the lesson goes back.
// What it replaces is backed up in turn, so running it again undoes it.
func (w *Workbook) restoreCmd(args []string) error {
	p, err := parseArgs("restore", args, nil, nil)
	if err != nil {
		return err
	}
	if len(p.args) != 1 {
		return usagef("usage: go run ./cmd/workbook restore LESSON")
	}
	l, _, err := w.find(p.args[0])
	if err != nil {
		return err
	}
	backups, _ := os.ReadDir(filepath.Join(w.Root, backupDir, l.ID)) // sorted by name, so by time
	backups = slices.DeleteFunc(backups, func(e fs.DirEntry) bool { return !e.IsDir() })
	if len(backups) == 0 {
		fmt.Fprintf(w.Out, "Lesson %s has no backup to restore: reset makes one each time it replaces your files.\n", l.ID)
		return nil
	}
	from := path.Join(backupDir, l.ID, backups[len(backups)-1].Name())
	files := map[string][]byte{}
	entries, err := os.ReadDir(filepath.Join(w.Root, filepath.FromSlash(from)))
	if err != nil {
		return err
	}
	for _, e := range entries {
		if files[e.Name()], err = os.ReadFile(filepath.Join(w.Root, filepath.FromSlash(from), e.Name())); err != nil {
			return err
		}
	}
	return w.replace(l, files, "from "+from)
}

// replace writes files into lesson l's folder, after copying each file it
// changes to a new backup folder, and says what it did.
func (w *Workbook) replace(l lessons.Lesson, files map[string][]byte, how string) error {
	names := slices.Sorted(maps.Keys(files))
	backup := ""
	for _, name := range names {
		mine, err := os.ReadFile(filepath.Join(w.Root, l.Dir(), name))
		if err != nil || bytes.Equal(mine, files[name]) {
			continue // nothing of the learner's to lose
		}
		if backup == "" {
			if backup, err = w.newBackup(l); err != nil {
				return fmt.Errorf("backing up your files before replacing them: %w", err)
			}
		}
		if err := os.WriteFile(filepath.Join(w.Root, filepath.FromSlash(backup), name), mine, 0o644); err != nil {
			return fmt.Errorf("backing up your files before replacing them: %w", err)
		}
	}
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(w.Root, l.Dir(), name), files[name], 0o644); err != nil {
			return err
		}
		fmt.Fprintf(w.Out, "restored lessons/%s/%s %s\n", l.ID, name, how)
	}
	if backup != "" {
		fmt.Fprintf(w.Out, "Your previous versions are in %s/\n(`go run ./cmd/workbook restore %s` puts them back).\n", backup, lessonArg(l))
	}
	return nil
}

// newBackup makes a new, empty backup folder for lesson l, named by the
// time, and returns it relative to the root, with slashes.
func (w *Workbook) newBackup(l lessons.Lesson) (string, error) {
	parent := path.Join(backupDir, l.ID)
	if err := os.MkdirAll(filepath.Join(w.Root, filepath.FromSlash(parent)), 0o755); err != nil {
		return "", err
	}
	stamp := time.Now().Format("20060102-150405.000")
	for n := 1; ; n++ {
		dir := path.Join(parent, stamp)
		if n > 1 {
			dir = fmt.Sprintf("%s-%d", dir, n) // two backups in one millisecond
		}
		err := os.Mkdir(filepath.Join(w.Root, filepath.FromSlash(dir)), 0o755)
		if !errors.Is(err, fs.ErrExist) {
			return dir, err
		}
	}
}
