package schedule

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/causewayhq/causeway/internal/pgtest"
)

// calls records a job's scheduled times in memory.
type calls struct {
	mu  sync.Mutex
	ats []time.Time
}

func (c *calls) job(ctx context.Context) error {
	at, _ := ScheduledAt(ctx)
	c.mu.Lock()
	c.ats = append(c.ats, at)
	c.mu.Unlock()
	return nil
}

func (c *calls) get() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.ats...)
}

// TestDurableLastRun: the next fire time comes from the durable last run.
// A restart does not re-run a period that already ran; periods missed while
// no leader ran are caught up with a single run.
func TestDurableLastRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := pgtest.Context(t, time.Minute)
	now := time.Now().Truncate(time.Second)
	ranRecently := now.Add(-10 * time.Minute)             // this hour's run is done
	missedSince := now.Add(-5*time.Hour + 30*time.Second) // due at -4h+30s … -1h+30s
	if _, err := e.pool.Exec(ctx, `INSERT INTO `+e.schema+`.schedules (name, last_run_at, runs) VALUES ('hourly', $1, 1), ('missed', $2, 1)`,
		ranRecently, missedSince); err != nil {
		t.Fatal(err)
	}
	var hourly, missed, fast calls
	cfg := Config{Jobs: []Job{
		{Name: "hourly", Spec: "@every 1h", Run: hourly.job},
		{Name: "missed", Spec: "@every 1h", Run: missed.job},
		{Name: "fast", Spec: "@every 2s", Run: fast.job},
	}}

	stop := e.start(t, "s1", cfg)
	waitFor(t, 10*time.Second, "the missed job and the fast job to run", func() bool {
		return len(missed.get()) > 0 && len(fast.get()) > 0
	})
	stop() // within fast's period: its run is done, the next is ~2s away
	fastFirst := fast.get()[0]
	if got := e.state(t, "fast"); got.LastRunAt == nil || !got.LastRunAt.Equal(fastFirst) || got.LastStatus != StatusOK {
		t.Fatalf("fast state after first run: %+v", got)
	}

	stop = e.start(t, "s2", cfg)
	waitFor(t, 10*time.Second, "the fast job's second run", func() bool { return len(fast.get()) >= 2 })
	stop() // whatever s2 was going to run at start-up has run by now

	if got := hourly.get(); len(got) != 0 {
		t.Errorf("hourly job re-ran in a period that had run: %v", got)
	}
	wantMissed := missedSince.Add(4 * time.Hour)
	if got := missed.get(); len(got) != 1 || !got[0].Equal(wantMissed) {
		t.Errorf("missed job ran at %v, want once at %v", got, wantMissed)
	}
	st := e.state(t, "missed")
	if st.Runs != 2 || st.LastRunAt == nil || !st.LastRunAt.Equal(wantMissed) || st.LastStatus != StatusOK || st.LastRunBy != "s1" {
		t.Errorf("missed state %+v", st)
	}
	got := fast.get()
	if !got[1].Equal(fastFirst.Add(2 * time.Second)) {
		t.Errorf("fast job ran at %v then %v: the restart repeated or skipped a period", got[0], got[1])
	}
	t.Logf("fast job: %v by s1, then %v by s2", got[0].Format(time.TimeOnly), got[1].Format(time.TimeOnly))
}

func TestNextDue(t *testing.T) {
	t.Parallel()
	utc := time.UTC
	at := func(s string) time.Time {
		v, err := time.Parse(time.DateTime, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		spec, anchor, now, want string
	}{
		{"@every 1s", "2025-01-01 10:00:00", "2025-01-01 10:00:00", "2025-01-01 10:00:01"},
		{"@every 10s", "2025-01-01 10:00:00", "2025-01-01 10:00:35", "2025-01-01 10:00:30"},
		{"@hourly", "2025-01-01 10:00:00", "2025-01-01 10:20:00", "2025-01-01 11:00:00"},
		{"@hourly", "2025-01-01 10:00:00", "2025-01-01 15:20:00", "2025-01-01 15:00:00"},
		{"*/15 * * * * *", "2025-01-01 10:00:00", "2025-01-01 10:00:05", "2025-01-01 10:00:15"},
		{"30 9 * * *", "2025-01-01 09:30:00", "2025-01-05 12:00:00", "2025-01-05 09:30:00"},
		{"* * * * * *", "2020-01-01 00:00:00", "2025-01-01 00:00:00.5", "2025-01-01 00:00:00"}, // past the step bound
	} {
		s, err := Parse(c.spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := nextDue(s, at(c.anchor), at(c.now), utc); !got.Equal(at(c.want)) {
			t.Errorf("%s after %s at %s: got %v, want %s", c.spec, c.anchor, c.now, got, c.want)
		}
	}
	if _, err := Parse("not a spec"); err == nil {
		t.Error("bad spec parsed")
	}
}
