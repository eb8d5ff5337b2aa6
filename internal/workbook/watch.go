package workbook

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/grpc-workbook/streaming/internal/lessons"
)

// watchCmd is `watch [LESSON] [--poll] [--interval=D]`: run the lesson, draw
// the result, wait for a save, and again. Without a LESSON it starts at the
// first lesson not done and moves on to the next when that one is done.
// Only the one lesson runs each time, so go test answers as fast as it can.
func (w *Workbook) watchCmd(ctx context.Context, args []string) error {
	p, err := parseArgs("watch", args, []string{"poll"}, []string{"interval"})
	if err != nil {
		return err
	}
	if len(p.args) > 1 {
		return usagef("usage: go run ./cmd/workbook watch [LESSON] [--poll] [--interval=1s]")
	}
	interval := time.Second
	if v, ok := p.values["interval"]; ok {
		if interval, err = time.ParseDuration(v); err != nil || interval <= 0 {
			return usagef("watch: --interval wants a duration such as 500ms or 2s, got %q", v)
		}
		p.bools["poll"] = true
	}
	ls, err := w.toWatch(ctx, p.args)
	if err != nil {
		return err
	}
	wt, err := w.newWatcher(ls, p.bools["poll"], interval)
	if err != nil {
		return fmt.Errorf("watching for file changes: %w; try `go run ./cmd/workbook watch --poll`", err)
	}
	defer wt.close()
	for {
		before := w.fingerprint(ls[0]) // so that polling sees a save made during the run
		r, err := w.runLesson(ctx, ls[0])
		if err != nil {
			if ctx.Err() != nil {
				return nil // the learner pressed Ctrl-C
			}
			return err
		}
		w.drawWatch(r, wt.ticks != nil)
		if w.afterRun != nil {
			w.afterRun(r)
		}
		if r.Done && len(ls) > 1 {
			ls = ls[1:]
			fmt.Fprintf(w.Out, "\nOn to lesson %s.\n", ls[0].ID)
			continue
		}
		if w.waitForSave(ctx, wt, ls[0], before) != nil {
			return nil // the learner pressed Ctrl-C
		}
	}
}

// toWatch returns the lessons watch works through: the one args name, or
// else every lesson from the first not done on.
func (w *Workbook) toWatch(ctx context.Context, args []string) ([]lessons.Lesson, error) {
	if len(args) == 1 {
		l, _, err := w.find(args[0])
		return []lessons.Lesson{l}, err
	}
	all, err := w.discover()
	if err != nil {
		return nil, err
	}
	fmt.Fprintln(w.Out, "Running the tests...")
	results, err := w.progress(ctx, all)
	if err != nil {
		return nil, err
	}
	for i, r := range results {
		if !r.Done {
			return all[i:], nil
		}
	}
	return all[len(all)-1:], nil
}

// A watcher tells watch that a lesson's file changed. There are two kinds,
// because neither works everywhere: fsnotify hears of a save the moment it
// happens, through the system's file-change API, but some network and
// container mounts never deliver those events; polling (--poll) compares the
// lesson's files on every tick instead, which works on any file system.
type watcher struct {
	events <-chan fsnotify.Event // fsnotify's; nil when polling
	errs   <-chan error
	ticks  <-chan time.Time // the poll clock; nil with fsnotify
	close  func()
}

// newWatcher watches the folders of ls with fsnotify, or starts the poll
// clock (the tests' own when they set w.pollTicks).
func (w *Workbook) newWatcher(ls []lessons.Lesson, poll bool, interval time.Duration) (*watcher, error) {
	switch {
	case poll && w.pollTicks != nil:
		return &watcher{ticks: w.pollTicks, close: func() {}}, nil
	case poll:
		t := time.NewTicker(interval)
		return &watcher{ticks: t.C, close: t.Stop}, nil
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	for _, l := range ls {
		if err := fw.Add(filepath.Join(w.Root, l.Dir())); err != nil {
			_ = fw.Close()
			return nil, err
		}
	}
	return &watcher{events: fw.Events, errs: fw.Errors, close: func() { _ = fw.Close() }}, nil
}

// waitForSave returns once a file of lesson l has changed from the state
// fingerprinted as last, and then nothing has changed for w.Debounce (an
// editor's save is often several writes). It returns an error only when ctx
// ends.
func (w *Workbook) waitForSave(ctx context.Context, wt *watcher, l lessons.Lesson, last string) error {
	dir := filepath.Join(w.Root, l.Dir())
	var quiet <-chan time.Time // set by the first change
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-quiet:
			return nil
		case ev := <-wt.events:
			if filepath.Dir(ev.Name) != dir || !relevant(ev.Name) || ev.Has(fsnotify.Chmod) {
				continue
			}
		case <-wt.errs: // events were lost (the kernel's queue overflowed): run again to be safe
		case <-wt.ticks:
			now := w.fingerprint(l)
			if now == last {
				continue
			}
			last = now
		}
		quiet = time.After(w.Debounce)
	}
}
