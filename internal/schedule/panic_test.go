package schedule

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	pgstore "github.com/causewayhq/causeway/eventlog/postgres"
)

// TestPanickingJobIsAFailedRun: a job that panics records failed runs with
// the panic as its error; the scheduler and its other jobs keep going.
func TestPanickingJobIsAFailedRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(t, "s1", Config{Jobs: []Job{
		{Name: "boom", Spec: "@every 1s", Run: func(context.Context) error { panic("kaboom") }},
		{Name: "fine", Spec: "@every 1s", Run: func(ctx context.Context) error {
			SetResult(ctx, "all good")
			return nil
		}},
		// Text PostgreSQL cannot store must not leave the run unrecorded.
		{Name: "badtext", Spec: "@every 1s", Run: func(ctx context.Context) error {
			SetResult(ctx, "nul\x00")
			return errors.New("bad \xff\x00 text")
		}},
	}})
	waitFor(t, 15*time.Second, "two runs of each job", func() bool {
		return e.state(t, "boom").Runs >= 2 && e.state(t, "fine").Runs >= 2 && e.state(t, "badtext").Runs >= 2
	})
	if bad := e.state(t, "badtext"); bad.LastStatus != StatusFailed || bad.LastError != "bad \uFFFD\\0 text" {
		t.Errorf("badtext state: %+v", bad)
	}
	boom, fine := e.state(t, "boom"), e.state(t, "fine")
	if boom.LastStatus != StatusFailed || boom.Failures != boom.Runs || !strings.HasPrefix(boom.LastError, "panic: kaboom") {
		t.Errorf("boom state: %+v", boom)
	}
	if fine.LastStatus != StatusOK || fine.Failures != 0 || fine.LastResult != "all good" || fine.LastError != "" {
		t.Errorf("fine state: %+v", fine)
	}
}

// TestNewRejectsBadJobs: names must be unique (retention jobs included),
// expressions valid, policies complete.
func TestNewRejectsBadJobs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	log, err := pgstore.New(e.pool, pgstore.Config{Schema: e.schema, DisableNotify: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(log.Close)
	ok := func(context.Context) error { return nil }
	for name, cfg := range map[string]Config{
		"duplicate":     {Jobs: []Job{{Name: "a", Spec: "@hourly", Run: ok}, {Name: "a", Spec: "@daily", Run: ok}}},
		"bad spec":      {Jobs: []Job{{Name: "a", Spec: "every tuesday", Run: ok}}},
		"no run":        {Jobs: []Job{{Name: "a", Spec: "@hourly"}}},
		"policy limits": {Retention: []RetentionPolicy{{Category: "order"}}},
		"policy twice":  {Retention: []RetentionPolicy{{Category: "order", MaxCount: 1}, {Category: "order", MaxAge: time.Hour}}},
	} {
		cfg.Pool, cfg.Schema, cfg.Log = e.pool, e.schema, log
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
}
