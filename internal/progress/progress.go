// Package progress reports the progress of a long operation (a replay): a
// live bar on a terminal, plain log lines otherwise.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Reporter prints progress towards a total. It is safe for concurrent use.
type Reporter struct {
	mu       sync.Mutex
	out      io.Writer
	label    string
	total    int64
	tty      bool
	start    time.Time
	last     time.Time
	every    time.Duration
	finished bool
	now      func() time.Time
}

// New returns a reporter; a nil out reports nothing. On a terminal it
// redraws one line at most every 100 ms; elsewhere it prints a line at most
// every 2 s.
func New(out io.Writer, label string, total int64) *Reporter {
	r := &Reporter{out: out, label: label, total: total, now: time.Now}
	r.start = r.now()
	r.tty = IsTerminal(out)
	r.every = 2 * time.Second
	if r.tty {
		r.every = 100 * time.Millisecond
	}
	return r
}

// IsTerminal reports whether w is a character device (a terminal).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Update reports done so far (throttled).
func (r *Reporter) Update(done int64) {
	if r == nil || r.out == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if r.finished || now.Sub(r.last) < r.every {
		return
	}
	r.last = now
	r.print(done, now, false)
}

// Done prints the final state.
func (r *Reporter) Done(done int64) {
	if r == nil || r.out == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished {
		return
	}
	r.finished = true
	r.print(done, r.now(), true)
}

// Line renders one progress line (exported for tests and plain logs).
func Line(label string, done, total int64, elapsed time.Duration) string {
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(done) / s
	}
	pct := 100.0
	if total > 0 {
		pct = min(100, 100*float64(done)/float64(total))
	}
	eta := "-"
	if rate > 0 && done < total {
		eta = (time.Duration(float64(total-done) / rate * float64(time.Second))).Round(time.Second).String()
	}
	return fmt.Sprintf("%s: %d/%d events (%.1f%%), %.0f events/s, ETA %s", label, done, total, pct, rate, eta)
}

func (r *Reporter) print(done int64, now time.Time, final bool) {
	line := Line(r.label, done, r.total, now.Sub(r.start))
	if !r.tty {
		fmt.Fprintln(r.out, line)
		return
	}
	const width = 30
	filled := width
	if r.total > 0 {
		filled = int(min(1, float64(done)/float64(r.total)) * width)
	}
	bar := "[" + strings.Repeat("=", filled) + strings.Repeat(" ", width-filled) + "] "
	end := ""
	if final {
		end = "\n"
	}
	fmt.Fprintf(r.out, "\r\033[K%s%s%s", bar, line, end)
}
