package worker_test

import (
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/internal/pgtest"
)

func spawnWorker(t *testing.T, e *env, name string, ttl time.Duration) *pgtest.Child {
	t.Helper()
	return pgtest.SpawnSelf(t, name, childEnv+"=1", "DATABASE_URL="+e.url, "CW_SCHEMA="+e.schema,
		"CW_MEMBER="+name, fmt.Sprintf("CW_TTL_MS=%d", ttl.Milliseconds()))
}

// TestMultiProcessKillAndJoin: three worker processes share a subscription
// of 8 partitions while 20,000 events are appended; one is killed with
// SIGKILL mid-run and another joins later. The transactional read model must
// end exactly equal to a sequential fold of the log — nothing lost, nothing
// applied twice — and the killed member's partitions must be taken over
// within 2 × the lease TTL.
func TestMultiProcessKillAndJoin(t *testing.T) {
	e := newEnv(t)
	const (
		total = 20_000
		ttl   = 3 * time.Second
	)
	ctx := pgtest.Context(t, 5*time.Minute)
	workers := []*pgtest.Child{spawnWorker(t, e, "w1", ttl), spawnWorker(t, e, "w2", ttl), spawnWorker(t, e, "w3", ttl)}

	var appended atomic.Int64
	appendDone := make(chan error, 1)
	go func() {
		for i := 0; i < total; {
			k := 1 + i%7
			k = min(k, total-i)
			evs := make([]eventlog.EventData, k)
			for j := range evs {
				evs[j], _ = eventlog.NewEvent("Amount", amount{N: int64(i + j)})
			}
			if _, err := e.log.Append(ctx, fmt.Sprintf("acct-%d", i%211), eventlog.Any, evs...); err != nil {
				appendDone <- err
				return
			}
			i += k
			appended.Store(int64(i))
			if i%500 < 7 {
				time.Sleep(150 * time.Millisecond) // spread the run out over several seconds
			}
		}
		appendDone <- nil
	}()

	waitFor(t, time.Minute, "a third appended", func() bool { return appended.Load() >= total/3 })
	// w1 must own something to make the kill meaningful.
	waitFor(t, 30*time.Second, "w1 owns partitions", func() bool { return e.owned(t, "w1") > 0 })
	killedAt := time.Now()
	if err := workers[0].Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-workers[0].Done
	// Failover: every partition leased by a live member again.
	waitFor(t, 4*ttl, "failover", func() bool { return e.owned(t, "w1") == 0 && e.leasedBy(t, "w2", "w3") == 8 })
	failover := time.Since(killedAt)
	t.Logf("failover after SIGKILL took %v (lease TTL %v)", failover.Round(time.Millisecond), ttl)
	if failover > 2*ttl {
		t.Fatalf("failover took %v, more than 2 × TTL", failover)
	}

	waitFor(t, time.Minute, "two thirds appended", func() bool { return appended.Load() >= 2*total/3 })
	workers = append(workers, spawnWorker(t, e, "w4", ttl))
	waitFor(t, 30*time.Second, "w4 gets a share", func() bool { return e.owned(t, "w4") > 0 })

	if err := <-appendDone; err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	waitFor(t, 3*time.Minute, "read model caught up", func() bool {
		if time.Now().After(deadline) {
			e.diagnose(t, workers[1:])
		}
		if n, _ := e.cps.CountDeadLetters(ctx, "rm"); n > 0 {
			dls, _ := e.cps.DeadLetters(ctx, dlQuery("rm"))
			t.Fatalf("%d dead letters, first: %+v", n, dls[0])
		}
		return e.readModelEvents(t) >= total
	})
	for _, w := range workers[1:] {
		_ = w.Cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, w := range workers[1:] {
		select {
		case <-w.Done:
		case <-time.After(30 * time.Second):
			t.Fatalf("%s did not stop on SIGTERM", w.Name)
		}
	}
	compareModels(t, e.readModel(t), e.fold(t, eventlog.Filter{}))
	if n, _ := e.cps.CountDeadLetters(ctx, "rm"); n != 0 {
		dls, _ := e.cps.DeadLetters(ctx, dlQuery("rm"))
		t.Fatalf("%d dead letters, e.g. %+v", n, dls[0])
	}
	// A graceful stop released everything.
	if n := e.leasedBy(t, "w2", "w3", "w4"); n != 0 {
		t.Fatalf("%d partitions still leased after SIGTERM", n)
	}
}

// diagnose dumps what a stalled run looks like: sessions, partitions, and
// the workers' goroutines (SIGQUIT makes a Go process print them and exit).
func (e *env) diagnose(t *testing.T, workers []*pgtest.Child) {
	ctx := pgtest.Context(t, time.Minute)
	rows, _ := e.pool.Query(ctx, `SELECT pid, state, coalesce(backend_xid::text, ''), coalesce(now() - xact_start, '0'), wait_event_type, wait_event, left(query, 120) FROM pg_stat_activity WHERE datname IS NOT NULL`)
	for rows.Next() {
		var pid int
		var state, xid, wt, we, q *string
		var age time.Duration
		_ = rows.Scan(&pid, &state, &xid, &age, &wt, &we, &q)
		t.Logf("session %d %v xid=%v age=%v wait=%v/%v %v", pid, deref(state), deref(xid), age, deref(wt), deref(we), deref(q))
	}
	rows.Close()
	parts, _ := e.cps.Partitions(ctx, "rm")
	head, _ := e.log.Head(ctx)
	t.Logf("head %v", head)
	for _, p := range parts {
		t.Logf("partition %+v", p)
	}
	for _, w := range workers {
		_ = w.Cmd.Process.Signal(syscall.SIGQUIT)
	}
	time.Sleep(2 * time.Second)
	t.FailNow()
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// owned counts partitions of "rm" leased to member.
func (e *env) owned(t testing.TB, member string) int { return e.leasedBy(t, member) }

func (e *env) leasedBy(t testing.TB, members ...string) int {
	parts, err := e.cps.Partitions(pgtest.Context(t, time.Minute), "rm")
	if err != nil {
		return 0
	}
	n := 0
	for _, p := range parts {
		for _, m := range members {
			if p.Owner == m && p.Leased(time.Now()) {
				n++
			}
		}
	}
	return n
}
