package schedule

import (
	"context"
	"testing"
	"time"
)

// TestLostLockCancelsJobs: when the server ends the leader's lock session
// (pg_terminate_backend, as a failover or an operator would), the leader
// notices at its next check, cancels its running job (recorded as
// cancelled) and stops firing; a leader is elected again and goes on with
// the next scheduled time — none is fired twice.
func TestLostLockCancelsJobs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	job := func(member string) Job {
		fire := recordFire(e.pool, e.schema, "long", member)
		return Job{Name: "long", Spec: "@every 1s", Run: func(ctx context.Context) error {
			if err := fire(ctx); err != nil {
				return err
			}
			<-ctx.Done() // runs until leadership is lost or shutdown
			return ctx.Err()
		}}
	}
	e.start(t, "s1", Config{Jobs: []Job{job("s1")}})
	e.start(t, "s2", Config{Jobs: []Job{job("s2")}})

	waitFor(t, 10*time.Second, "the first run", func() bool { return len(e.fires(t, "long")) == 1 })
	first := e.fires(t, "long")[0]
	if l := e.leader(t); l != first.Process {
		t.Fatalf("lock held by %q, the run is %s's", l, first.Process)
	}
	k := uint64(LeaderLockKey(e.schema))
	cut := time.Now()
	e.exec(t, `SELECT pg_terminate_backend(l.pid) FROM pg_locks l
		WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
		  AND l.classid = $1::bigint::oid AND l.objid = $2::bigint::oid`, int64(k>>32), int64(k&0xffffffff))

	waitFor(t, 5*time.Second, "the cut-off run to be recorded as cancelled", func() bool {
		st := e.state(t, "long")
		return st.LastStatus == StatusCancelled || st.LastRunAt != nil && !st.LastRunAt.Equal(first.ScheduledAt)
	})
	if st := e.state(t, "long"); st.LastStatus != StatusCancelled || !st.LastRunAt.Equal(first.ScheduledAt) {
		t.Fatalf("state after the lock was cut: %+v", st)
	}
	cancelled := time.Since(cut)
	waitFor(t, 5*time.Second, "a run by the new leader", func() bool { return len(e.fires(t, "long")) == 2 })
	second := e.fires(t, "long")[1]
	if !second.ScheduledAt.After(first.ScheduledAt) {
		t.Fatalf("runs at %v then %v", first.ScheduledAt, second.ScheduledAt)
	}
	t.Logf("run %s by %s cancelled %v after its lock session was terminated; next run %s by %s",
		first.ScheduledAt.Format(time.TimeOnly), first.Process, cancelled.Round(time.Millisecond),
		second.ScheduledAt.Format(time.TimeOnly), second.Process)
}
