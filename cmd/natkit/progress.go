package main

import (
	"context"
	"errors"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// progressBar is the live status line of one long command, drawn on stderr
// with mpb (the one progress component of natkit), and only when stderr is
// a terminal. Every method is safe on a nil *progressBar, which is what a
// command gets when stderr is not a terminal: a command calls it the same
// way either way.
//
//	bar := a.progress(ctx, "matrix", 50)   // total 0: unknown, a spinner
//	defer bar.Done()
//	bar.Increment()                        // one of 50 done; bar.Fail() for a failed one
//	bar.SetStatus("3 servers answered")    // free text after the counters
//
// While it is active, logs go through mpb's writer, so a log line is
// printed above the bar instead of through it.
type progressBar struct {
	a      *app
	p      *mpb.Progress
	bar    *mpb.Bar
	total  int64
	failed atomic.Int64
	status atomic.Pointer[string]
	once   sync.Once
}

// progressRefresh is how often the line is redrawn.
const progressRefresh = 120 * time.Millisecond

// progress starts a status line for what ("matrix", "gather", …) with total
// units of work (0 when unknown). It returns nil when stderr is not a
// terminal.
func (a *app) progress(ctx context.Context, what string, total int) *progressBar {
	if !a.stderrIsTerminal() {
		return nil
	}
	opts := []mpb.ContainerOption{mpb.WithOutput(a.stderr), mpb.WithWidth(32), mpb.WithRefreshRate(progressRefresh)}
	pb := &progressBar{a: a, p: mpb.NewWithContext(ctx, opts...), total: int64(total)}
	counts := decor.Any(func(s decor.Statistics) string {
		if pb.total <= 0 {
			if s.Current == 0 {
				return ""
			}
			return strconv.FormatInt(s.Current, 10)
		}
		return strconv.FormatInt(s.Current, 10) + "/" + strconv.FormatInt(pb.total, 10)
	}, decor.WCSyncSpaceR)
	extra := decor.Any(func(decor.Statistics) string {
		s := ""
		if n := pb.failed.Load(); n > 0 {
			s = " · " + strconv.FormatInt(n, 10) + " failed"
		}
		if st := pb.status.Load(); st != nil && *st != "" {
			s += " · " + *st
		}
		return s
	})
	name := decor.Name(what+" ", decor.WCSyncSpaceR)
	elapsed := decor.Elapsed(decor.ET_STYLE_GO, decor.WCSyncSpace)
	if total > 0 {
		pb.bar = pb.p.AddBar(int64(total), mpb.PrependDecorators(name, counts), mpb.AppendDecorators(elapsed, extra))
	} else {
		pb.bar = pb.p.AddSpinner(0, mpb.PrependDecorators(name), mpb.AppendDecorators(counts, elapsed, extra))
	}
	a.logOut.redirect(pb.p)
	return pb
}

// Increment counts one unit of work done.
func (pb *progressBar) Increment() {
	if pb != nil {
		pb.bar.Increment()
	}
}

// Fail counts one unit of work done that failed; the line shows how many.
func (pb *progressBar) Fail() {
	if pb != nil {
		pb.failed.Add(1)
		pb.bar.Increment()
	}
}

// SetCurrent sets how many units are done, for producers that report a
// running count.
func (pb *progressBar) SetCurrent(n int) {
	if pb != nil {
		pb.bar.SetCurrent(int64(n))
	}
}

// SetStatus sets the free text after the counters, e.g. "loss 0.1%".
func (pb *progressBar) SetStatus(s string) {
	if pb != nil {
		pb.status.Store(&s)
	}
}

// Done stops the line (a bar that reached its total stays as a last
// summary line; an unfinished one is erased) and gives stderr back to the
// logs. Call it before writing the report; calling it again does nothing.
func (pb *progressBar) Done() {
	if pb == nil {
		return
	}
	pb.once.Do(func() {
		pb.a.logOut.redirect(nil)
		pb.bar.Abort(true)
		pb.p.Wait()
	})
}

// logWriter is where the logger writes: stderr, or the progress
// container while a status line is drawn.
type logWriter struct {
	mu     sync.Mutex
	stderr io.Writer
	via    io.Writer
}

func (w *logWriter) redirect(via io.Writer) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.via = via
}

func (w *logWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.via != nil {
		n, err := w.via.Write(b)
		if !errors.Is(err, mpb.ErrDone) {
			return n, err
		}
		w.via = nil // the container stopped (e.g. Ctrl-C): back to stderr
	}
	return w.stderr.Write(b)
}
