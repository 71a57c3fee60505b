package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/internal/migrations"
	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/worker/queue"
	"github.com/causewayhq/causeway/worker/queue/postgres"
)

func exec(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(testCtx(t), sql, args...); err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(testCtx(t), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func enqueueN(t *testing.T, s queue.Store, from, n int) []uuid.UUID {
	t.Helper()
	var ids []uuid.UUID
	for i := from; i < from+n; i += 10 {
		var batch []queue.Outgoing
		for j := i; j < min(i+10, from+n); j++ {
			batch = append(batch, queue.New(json.RawMessage(fmt.Sprint(j))))
		}
		e, err := s.Enqueue(testCtx(t), "jobs", batch...)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range e {
			ids = append(ids, x.ID)
		}
	}
	return ids
}

// TestSIGKILLedConsumerMessagesComeBack: a consumer process SIGKILLed while
// holding messages loses none of them: they are delivered again once their
// visibility (as the dead process last extended it) runs out, not before,
// and every message is handled.
func TestSIGKILLedConsumerMessagesComeBack(t *testing.T) {
	schema, pool := pgtest.NewMigratedSchema(t)
	s := storeIn(t, pool, schema)
	ctx := testCtx(t)
	if _, err := s.Declare(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	held := pgx.Identifier{schema, "held"}.Sanitize()
	exec(t, pool, `CREATE TABLE `+held+` (id uuid)`)
	const total, holding = 20, 5
	ids := enqueueN(t, s, 0, total)

	child := pgtest.SpawnSelf(t, "holder", childEnv+"=hold", "CW_SCHEMA="+schema)
	waitFor(t, 20*time.Second, "the child holding 5 messages", func() bool { return count(t, pool, `SELECT count(*) FROM `+held) == holding })
	if err := child.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-child.Done
	// Where the dead process left its messages' visibility.
	visibleUntil := map[uuid.UUID]time.Time{}
	rows, _ := pool.Query(ctx, `SELECT id, locked_until FROM `+pgx.Identifier{schema, "queue_messages"}.Sanitize()+` WHERE receipt IS NOT NULL`)
	for rows.Next() {
		var id uuid.UUID
		var at time.Time
		if err := rows.Scan(&id, &at); err != nil {
			t.Fatal(err)
		}
		visibleUntil[id] = at
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(visibleUntil) != holding || count(t, pool, `SELECT count(DISTINCT id) FROM `+held) != holding {
		t.Fatalf("%d messages in flight after the kill, want the %d the child held", len(visibleUntil), holding)
	}

	type handling struct {
		attempt int
		at      time.Time // the database's clock
	}
	var (
		mu      sync.Mutex
		handled = map[uuid.UUID][]handling{}
	)
	startRunner(t, s, queue.RunnerConfig{}, queue.NewConsumer("jobs",
		queue.HandleRaw(func(ctx context.Context, d queue.Delivery) error {
			var now time.Time
			if err := pool.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&now); err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			handled[d.ID] = append(handled[d.ID], handling{d.Attempts, now})
			return nil
		})))
	waitFor(t, 15*time.Second, "every message handled and acked", func() bool {
		st, err := s.Stats(ctx, "jobs")
		return err == nil && st == (queue.Stats{})
	})
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		hs := handled[id]
		if len(hs) != 1 {
			t.Errorf("message %s handled %d times after the kill, want once", id, len(hs))
			continue
		}
		until, wasHeld := visibleUntil[id]
		switch {
		case wasHeld && hs[0].attempt != 2:
			t.Errorf("held message %s: attempt %d, want 2", id, hs[0].attempt)
		case wasHeld && hs[0].at.Before(until):
			t.Errorf("held message %s delivered again %v before its visibility ran out", id, until.Sub(hs[0].at))
		case !wasHeld && hs[0].attempt != 1:
			t.Errorf("message %s: attempt %d, want 1", id, hs[0].attempt)
		}
	}
	if dls, err := s.DeadLetters(ctx, "jobs", uuid.Nil, 10); err != nil || len(dls) != 0 {
		t.Fatalf("dead letters: %v, %v", dls, err)
	}
}

// TestTwoProcessesShareAQueue: two consumer processes on one queue never
// hold one message at once (no two handlings of a message, under
// different receipts, overlap in time), and each message is acked exactly
// once from the queue's point of view: every message ends acked (kept for
// the retention, so it can be counted), the processes report as many
// successful acks as messages, and none stale.
func TestTwoProcessesShareAQueue(t *testing.T) {
	schema, pool := pgtest.NewMigratedSchema(t)
	s := storeIn(t, pool, schema)
	ctx := testCtx(t)
	if _, err := s.Declare(ctx, "jobs", queue.Retention(time.Hour)); err != nil {
		t.Fatal(err)
	}
	holds := pgx.Identifier{schema, "holds"}.Sanitize()
	outcomes := pgx.Identifier{schema, "outcomes"}.Sanitize()
	msgs := pgx.Identifier{schema, "queue_messages"}.Sanitize()
	exec(t, pool, `CREATE TABLE `+holds+` (id uuid, receipt text PRIMARY KEY, proc text, started timestamptz, ended timestamptz)`)
	exec(t, pool, `CREATE TABLE `+outcomes+` (proc text, outcome text, n int)`)

	a := pgtest.SpawnSelf(t, "consumer-a", childEnv+"=consume", "CW_SCHEMA="+schema, "CW_PROC=a")
	b := pgtest.SpawnSelf(t, "consumer-b", childEnv+"=consume", "CW_SCHEMA="+schema, "CW_PROC=b")
	const total = 400
	enqueueN(t, s, 0, total)
	waitFor(t, 30*time.Second, "every message acked", func() bool {
		return count(t, pool, `SELECT count(*) FROM `+msgs+` WHERE acked_at IS NOT NULL`) == total
	})
	for _, c := range []*pgtest.Child{a, b} {
		if err := c.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		<-c.Done
		if code := c.Cmd.ProcessState.ExitCode(); code != 0 {
			t.Fatalf("%s exited with %d", c.Name, code)
		}
	}

	if n := count(t, pool, `SELECT count(*) FROM `+holds+` x JOIN `+holds+` y ON x.id = y.id AND x.receipt < y.receipt
		AND x.started < coalesce(y.ended, 'infinity') AND y.started < coalesce(x.ended, 'infinity')`); n != 0 {
		t.Errorf("%d pairs of overlapping holds of one message", n)
	}
	if n := count(t, pool, `SELECT count(DISTINCT id) FROM `+holds); n != total {
		t.Errorf("%d messages handled, want %d", n, total)
	}
	per := map[string]int{}
	rows, err := pool.Query(ctx, `SELECT proc, outcome, n FROM `+outcomes)
	if err != nil {
		t.Fatal(err)
	}
	acked := 0
	for rows.Next() {
		var proc, o string
		var n int
		if err := rows.Scan(&proc, &o, &n); err != nil {
			t.Fatal(err)
		}
		if o == string(queue.Acked) {
			acked += n
			per[proc] += n
		} else {
			t.Errorf("%s: %d messages %s", proc, n, o)
		}
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	if acked != total {
		t.Errorf("%d successful acks, want %d", acked, total)
	}
	if per["a"] == 0 || per["b"] == 0 {
		t.Errorf("acks per process %v: both must have taken part", per)
	}
	t.Logf("acks per process: %v", per)
	if st, err := s.Stats(ctx, "jobs"); err != nil || st != (queue.Stats{}) {
		t.Fatalf("stats %+v, %v", st, err)
	}
}

// TestRunnerSurvivesPostgresRestart: PostgreSQL crashes and restarts while
// a Runner consumes. The Runner keeps running, reconnects (its LISTEN
// connection too: messages enqueued afterwards by another process are
// handled within seconds, with the poll a minute away), and every
// message is handled, none lost.
func TestRunnerSurvivesPostgresRestart(t *testing.T) {
	cluster := pgtest.StartCluster(t)
	const schema = "causeway"
	pool := otherPool(t, cluster.URL(""))
	ctx := testCtx(t)
	if _, err := migrations.Apply(ctx, pool, schema); err != nil {
		t.Fatal(err)
	}
	const app = "cw-queue-restart-test"
	s := storeIn(t, pool, schema, postgres.ListenURL(pgtest.WithAppName(t, cluster.URL(""), app)))
	producer := storeIn(t, otherPool(t, cluster.URL("")), schema)
	if _, err := s.Declare(ctx, "jobs", queue.VisibilityTimeout(time.Second), queue.MaxAttempts(100)); err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		handled = map[uuid.UUID]int{}
	)
	seen := func(ids []uuid.UUID) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, id := range ids {
			if handled[id] > 0 {
				n++
			}
		}
		return n
	}
	run := startRunner(t, s, queue.RunnerConfig{PollInterval: time.Minute}, queue.NewConsumer("jobs", queue.Concurrency(4),
		queue.HandleRaw(func(ctx context.Context, d queue.Delivery) error {
			time.Sleep(2 * time.Millisecond)
			mu.Lock()
			handled[d.ID]++
			mu.Unlock()
			return nil
		})))
	first := pgtest.ListenerPID(t, pool, app)

	ids := enqueueN(t, producer, 0, 200)
	waitFor(t, 10*time.Second, "some messages handled", func() bool { return seen(ids) >= 40 })
	if err := cluster.Crash(); err != nil {
		t.Fatal(err)
	}
	atCrash := seen(ids)
	if err := cluster.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the messages before the crash handled", func() bool { return seen(ids) == len(ids) })
	if second := pgtest.ListenerPID(t, pool, app); second == first {
		t.Fatal("the LISTEN connection was not reopened")
	}
	mu.Lock()
	again := 0
	for _, n := range handled {
		again += n - 1
	}
	mu.Unlock()
	t.Logf("%d of %d messages handled when PostgreSQL crashed; %d handled again after it (acks lost)", atCrash, len(ids), again)
	if atCrash == len(ids) {
		t.Fatal("precondition: the crash came after every message was handled")
	}
	// Settled: nothing in flight or due, so only a notification can wake
	// the consumer now.
	waitFor(t, 10*time.Second, "the queue empty", func() bool {
		st, err := s.Stats(ctx, "jobs")
		return err == nil && st == (queue.Stats{})
	})
	for i := range 3 {
		var more []queue.Enqueued
		// The producer's pool may still hand out a connection of the
		// crashed server once.
		waitFor(t, 10*time.Second, "an enqueue after the restart", func() bool {
			var err error
			more, err = producer.Enqueue(ctx, "jobs", queue.New(json.RawMessage(fmt.Sprint(1000+i))))
			return err == nil
		})
		waitFor(t, 5*time.Second, "a message enqueued after the restart handled", func() bool { return seen([]uuid.UUID{more[0].ID}) == 1 })
	}
	if run.returned() {
		t.Fatal("Run returned during the restart")
	}
	if err := run.stop(); err != context.Canceled {
		t.Fatalf("Run returned %v at the stop, want context.Canceled", err)
	}
	if st, err := s.Stats(ctx, "jobs"); err != nil || st != (queue.Stats{}) {
		t.Fatalf("stats %+v, %v", st, err)
	}
}
