package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestLine(t *testing.T) {
	got := Line("replay x", 250, 1000, 5*time.Second)
	want := "replay x: 250/1000 events (25.0%), 50 events/s, ETA 15s"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if got := Line("r", 0, 0, 0); got != "r: 0/0 events (100.0%), 0 events/s, ETA -" {
		t.Fatalf("empty: %q", got)
	}
}

func TestPlainOutputIsThrottledLines(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(0, 0)
	r := New(&buf, "replay", 100)
	r.now = func() time.Time { return now }
	r.start = now
	for i := int64(1); i <= 10; i++ {
		now = now.Add(500 * time.Millisecond)
		r.Update(i * 10)
	}
	r.Done(100)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	// 5 s of updates every 500 ms, printed at most every 2 s, plus the final line.
	if len(lines) != 4 || !strings.Contains(lines[3], "100/100 events (100.0%)") || strings.Contains(buf.String(), "\r") {
		t.Fatalf("output:\n%s", buf.String())
	}
}
