package workbook

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/grpc-workbook/streaming/internal/lessons"
)

// watchCmd is `watch [LESSON] [--poll] [--interval=D]`.
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
	all, err := w.discover()
	if err != nil {
		return err
	}
	var fixed *lessons.Lesson
	if len(p.args) == 1 {
		l, err := lessons.Find(all, p.args[0])
		if err != nil {
			return &UsageError{Msg: err.Error()}
		}
		fixed = &l
	}

	var ch changes
	if p.bools["poll"] {
		ch = w.newPoller(interval)
	} else if ch, err = newNotifier(); err != nil {
		return fmt.Errorf("watching for file changes: %w; try `go run ./cmd/workbook watch --poll`", err)
	}
	defer ch.Close()

	// Start on the given lesson, or the first one not done.
	var current lessons.Lesson
	if fixed != nil {
		current = *fixed
	} else {
		fmt.Fprintln(w.Out, "Running the tests of every lesson...")
		results, err := w.runLessons(ctx, all)
		if err != nil {
			return err
		}
		current = all[len(all)-1]
		for _, r := range results {
			if !r.Done {
				current = r.Lesson
				break
			}
		}
	}
	for {
		dir := filepath.Join(w.Root, current.Dir())
		if err := ch.Watch(dir); err != nil {
			return fmt.Errorf("watching %s: %w", dir, err)
		}
		if w.Ready != nil {
			w.Ready(dir)
		}
		for {
			results, err := w.runLessons(ctx, []lessons.Lesson{current})
			if err != nil {
				if errors.Is(err, context.Canceled) {
					return nil
				}
				return err
			}
			r := results[0]
			w.drawWatch(r, p.bools["poll"])
			if w.AfterRun != nil {
				w.AfterRun(r)
			}
			if r.Done && fixed == nil {
				if next, ok := nextLesson(all, current); ok {
					fmt.Fprintf(w.Out, "\nOn to lesson %s.\n", next.ID)
					current = next
					break
				}
			}
			if err := w.waitForChange(ctx, ch); err != nil {
				return nil // the context ended: the learner pressed Ctrl-C
			}
		}
	}
}

func nextLesson(all []lessons.Lesson, l lessons.Lesson) (lessons.Lesson, bool) {
	for i, x := range all {
		if x.ID == l.ID && i+1 < len(all) {
			return all[i+1], true
		}
	}
	return lessons.Lesson{}, false
}

// drawWatch redraws the screen with one lesson's result.
func (w *Workbook) drawWatch(r LessonResult, poll bool) {
	if w.Terminal {
		fmt.Fprint(w.Out, "\x1b[H\x1b[2J")
	}
	st := w.style()
	fmt.Fprintf(w.Out, "%s  %s  %d/%d tests pass\n\n", st.bold("Lesson "+r.Lesson.ID), r.Lesson.Meta.Title, r.Passed, r.Total)
	for _, t := range r.Tests {
		mark := st.green("ok  ")
		if t.Outcome != "pass" {
			mark = st.red(fmt.Sprintf("%-4s", strings.ToUpper(t.Outcome)))
		}
		fmt.Fprintf(w.Out, "  %s %s\n", mark, t.Name)
	}
	fmt.Fprintln(w.Out)
	hint := 1
	if next, ok := r.Next(); ok {
		if h := w.loadState().Hints[r.Lesson.ID]; h.Task == r.Lesson.Meta.Tasks[next.Task].Title {
			hint = max(1, h.Shown)
		}
	}
	w.printNext(w.Out, r, hint)
	how := "saved"
	if poll {
		how = "saved (polling)"
	}
	fmt.Fprintf(w.Out, "\n%s\n", st.dim(fmt.Sprintf("Watching lessons/%s for files being %s. Ctrl-C stops.", r.Lesson.ID, how)))
}

// waitForChange returns after a relevant file changed and the changes have
// settled for the debounce time, or with an error when ctx ends.
func (w *Workbook) waitForChange(ctx context.Context, ch changes) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-ch.Changed():
	}
	for w.Debounce > 0 {
		timer := time.NewTimer(w.Debounce)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-ch.Changed(): // still saving: wait again
			timer.Stop()
		case <-timer.C:
			return nil
		}
	}
	// Without a debounce, fold changes that are already queued into this run.
	for {
		select {
		case <-ch.Changed():
		default:
			return nil
		}
	}
}

// changes tells watch when a file of the watched folder changed.
type changes interface {
	Watch(dir string) error // watch dir instead of the folder watched so far
	Changed() <-chan struct{}
	Close() error
}

// relevant reports whether a changed file can change the test result:
// editors also write swap and backup files.
func relevant(name string) bool {
	base := filepath.Base(name)
	if strings.HasPrefix(base, ".") || strings.HasPrefix(base, "#") {
		return false
	}
	switch filepath.Ext(base) {
	case ".go", ".proto", ".json", ".mod", ".sum":
		return true
	}
	return false
}

// notifier is the fsnotify implementation of changes.
type notifier struct {
	fw      *fsnotify.Watcher
	dir     string
	changed chan struct{}
	done    chan struct{}
	stopped chan struct{}
}

func newNotifier() (*notifier, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	n := &notifier{fw: fw, changed: make(chan struct{}, 1), done: make(chan struct{}), stopped: make(chan struct{})}
	go n.loop()
	return n, nil
}

func (n *notifier) loop() {
	defer close(n.stopped)
	for {
		select {
		case <-n.done:
			return
		case ev, ok := <-n.fw.Events:
			if !ok {
				return
			}
			if relevant(ev.Name) && !ev.Has(fsnotify.Chmod) {
				select {
				case n.changed <- struct{}{}:
				default: // a change is already pending
				}
			}
		case _, ok := <-n.fw.Errors:
			if !ok {
				return
			}
		}
	}
}

func (n *notifier) Watch(dir string) error {
	if n.dir == dir {
		return nil
	}
	if n.dir != "" {
		_ = n.fw.Remove(n.dir)
	}
	n.dir = dir
	return n.fw.Add(dir)
}

func (n *notifier) Changed() <-chan struct{} { return n.changed }

func (n *notifier) Close() error {
	close(n.done)
	err := n.fw.Close()
	<-n.stopped
	return err
}

// poller is the polling implementation of changes: on each tick it hashes
// the watched folder's files and reports a change when the hash differs.
type poller struct {
	dir     string
	last    [sha256.Size]byte
	ticks   <-chan time.Time
	stop    func()
	changed chan struct{}
	done    chan struct{}
	stopped chan struct{}
	watch   chan watched
}

// watched is a folder to poll and the state of its files when watching began.
type watched struct {
	dir  string
	last [sha256.Size]byte
}

func (w *Workbook) newPoller(interval time.Duration) *poller {
	newTicker := w.NewTicker
	if newTicker == nil {
		newTicker = func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		}
	}
	ticks, stop := newTicker(interval)
	p := &poller{ticks: ticks, stop: stop, changed: make(chan struct{}, 1),
		done: make(chan struct{}), stopped: make(chan struct{}), watch: make(chan watched)}
	go p.loop()
	return p
}

func (p *poller) loop() {
	defer close(p.stopped)
	for {
		select {
		case <-p.done:
			return
		case w := <-p.watch:
			p.dir, p.last = w.dir, w.last
		case <-p.ticks:
			if p.dir == "" {
				continue
			}
			if now := snapshot(p.dir); now != p.last {
				p.last = now
				select {
				case p.changed <- struct{}{}:
				default:
				}
			}
		}
	}
}

// snapshot hashes the names, sizes, modification times and contents of
// the relevant files below dir.
func snapshot(dir string) [sha256.Size]byte {
	h := sha256.New()
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !relevant(path) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		data, _ := os.ReadFile(path)
		fmt.Fprintf(h, "%s %d %d\n", path, info.Size(), info.ModTime().UnixNano())
		h.Write(data)
		return nil
	})
	var sum [sha256.Size]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

func (p *poller) Watch(dir string) error {
	if _, err := os.Stat(dir); err != nil {
		return err
	}
	// The snapshot is taken before Watch returns, so a change made after it
	// returns is always seen by a later tick.
	p.watch <- watched{dir: dir, last: snapshot(dir)}
	return nil
}

func (p *poller) Changed() <-chan struct{} { return p.changed }

func (p *poller) Close() error {
	close(p.done)
	<-p.stopped
	p.stop()
	return nil
}
