package schedule

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/internal/pgtest"
)

func spawn(t *testing.T, e *env, name string) *pgtest.Child {
	t.Helper()
	return pgtest.SpawnSelf(t, name, childEnv+"=1", "DATABASE_URL="+pgtest.URL(t), "CW_SCHEMA="+e.schema, "CW_MEMBER="+name)
}

// leader returns the member whose session holds the leader lock ("" when
// none does), from pg_locks and the application_name the scheduler sets.
func (e *env) leader(t testing.TB) string {
	t.Helper()
	k := uint64(LeaderLockKey(e.schema))
	var app string
	err := e.pool.QueryRow(pgtest.Context(t, time.Minute), `SELECT a.application_name
		FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
		  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
		  AND l.classid = $1::bigint::oid AND l.objid = $2::bigint::oid`, int64(k>>32), int64(k&0xffffffff)).Scan(&app)
	if errors.Is(err, pgx.ErrNoRows) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(app, "causeway scheduler ")
}

// TestTwoProcessesFireOnceAndFailOver: two processes run the same scheduler
// with an "@every 1s" job. Every scheduled time must be fired exactly once,
// by the leader only; after the leader is killed with SIGKILL the other
// process takes over within about one retry interval and carries on with no
// duplicate and no gap beyond a couple of seconds.
func TestTwoProcessesFireOnceAndFailOver(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	procs := map[string]*pgtest.Child{"p1": spawn(t, e, "p1"), "p2": spawn(t, e, "p2")}

	waitFor(t, 30*time.Second, "three fires", func() bool { return len(e.fires(t, "tick")) >= 3 })
	first := e.leader(t)
	if procs[first] == nil {
		t.Fatalf("leader lock held by %q", first)
	}
	survivor := map[string]string{"p1": "p2", "p2": "p1"}[first]
	time.Sleep(400 * time.Millisecond) // kill mid-period, not right after a fire
	killedAt := time.Now()
	if err := procs[first].Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-procs[first].Done
	waitFor(t, 10*time.Second, "the survivor to take the lock", func() bool { return e.leader(t) == survivor })
	lockTakeover := time.Since(killedAt)
	waitFor(t, 15*time.Second, "three fires by the survivor", func() bool {
		n := 0
		for _, f := range e.fires(t, "tick") {
			if f.Process == survivor {
				n++
			}
		}
		return n >= 3
	})
	if err := procs[survivor].Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-procs[survivor].Done:
	case <-time.After(15 * time.Second):
		t.Fatal("survivor did not stop on SIGTERM")
	}
	if code := procs[survivor].Cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("survivor exited with %d", code)
	}

	fires := e.fires(t, "tick")
	var (
		dups, switches        int
		maxGapSched, maxGapAt time.Duration
		maxLate               time.Duration
		firstBySurvivor       time.Time
	)
	for i, f := range fires {
		if f.FiredAt.Before(killedAt) && f.Process != first {
			t.Errorf("fire %v by %s while %s led", f.ScheduledAt, f.Process, first)
		}
		if f.Process == survivor && firstBySurvivor.IsZero() {
			firstBySurvivor = f.FiredAt
		}
		maxLate = max(maxLate, f.FiredAt.Sub(f.ScheduledAt))
		if i == 0 {
			continue
		}
		p := fires[i-1]
		if f.ScheduledAt.Equal(p.ScheduledAt) {
			dups++
			t.Errorf("scheduled time %v fired twice (%s, %s)", f.ScheduledAt, p.Process, f.Process)
		}
		if f.Process != p.Process {
			switches++
		}
		maxGapSched = max(maxGapSched, f.ScheduledAt.Sub(p.ScheduledAt))
		maxGapAt = max(maxGapAt, f.FiredAt.Sub(p.FiredAt))
	}
	lastByLeader := fires[0].FiredAt
	for _, f := range fires {
		if f.Process == first {
			lastByLeader = f.FiredAt
		}
	}
	t.Logf("fires %d, duplicates %d, leader %s killed %v after its last fire; lock taken over %v after SIGKILL; "+
		"first fire by %s %v after SIGKILL (%v after the previous fire); max gap between fires %v (scheduled times %v); max lateness %v",
		len(fires), dups, first, killedAt.Sub(lastByLeader).Round(time.Millisecond), lockTakeover.Round(time.Millisecond),
		survivor, firstBySurvivor.Sub(killedAt).Round(time.Millisecond), firstBySurvivor.Sub(lastByLeader).Round(time.Millisecond),
		maxGapAt.Round(time.Millisecond), maxGapSched, maxLate.Round(time.Millisecond))
	if switches != 1 {
		t.Errorf("the firing process changed %d times, want once (at the kill)", switches)
	}
	if maxGapSched > 3*time.Second || maxGapAt > 3*time.Second {
		t.Errorf("gap between fires %v (scheduled times %v), want at most the 1s period + 2s", maxGapAt, maxGapSched)
	}
	if lockTakeover > 2*time.Second {
		t.Errorf("lock takeover took %v", lockTakeover)
	}
}
