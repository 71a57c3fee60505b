package runtime_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/causewayhq/causeway/internal/obstest"
	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/internal/schedule"
	"github.com/causewayhq/causeway/runtime"
	"github.com/causewayhq/causeway/worker/queue"
)

// TestAppQueuesValidated: Open refuses invalid and duplicate queue
// declarations, naming them.
func TestAppQueuesValidated(t *testing.T) {
	ctx := pgtest.Context(t, time.Minute)
	for name, tc := range map[string]struct {
		decls []queue.Declaration
		want  string
	}{
		"bad name":     {[]queue.Declaration{queue.Declare("1jobs")}, `queue "1jobs"`},
		"bad attempts": {[]queue.Declaration{queue.Declare("jobs", queue.MaxAttempts(0))}, "max attempts"},
		"twice":        {[]queue.Declaration{queue.Declare("jobs"), queue.Declare("mail"), queue.Declare("jobs")}, `queue "jobs" is declared twice`},
	} {
		_, err := runtime.Open(ctx, runtime.App{Queues: tc.decls}, runtime.Config{DatabaseURL: pgtest.URL(t), HTTPAddr: "off"})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Open = %v, want an error containing %q", name, err, tc.want)
		}
	}
}

// TestMigrateDeclaresQueues: Migrate declares App.Queues, and declaring
// them again with other options updates their configuration.
func TestMigrateDeclaresQueues(t *testing.T) {
	ctx := pgtest.Context(t, time.Minute)
	schema, _ := pgtest.NewSchema(t)
	open := func(decls ...queue.Declaration) *runtime.Runtime {
		t.Helper()
		r, err := runtime.Open(ctx, runtime.App{Queues: decls}, runtime.Config{DatabaseURL: pgtest.URL(t), Schema: schema,
			HTTPAddr: "off", LogLevel: "error", LeaseTTL: 2 * time.Second, SagaConcurrency: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Close)
		if _, err := r.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := open(queue.Declare("jobs", queue.MaxAttempts(2)))
	if cfg, err := r.Queues().Queue(ctx, "jobs"); err != nil || cfg.MaxAttempts != 2 {
		t.Fatalf("after migrate: %+v, %v", cfg, err)
	}
	r = open(queue.Declare("jobs", queue.MaxAttempts(7), queue.Retention(time.Minute)), queue.Declare("mail"))
	qs, err := r.Queues().Queues(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []queue.Config{
		{Name: "jobs", VisibilityTimeout: queue.DefaultVisibilityTimeout, MaxAttempts: 7, Retention: time.Minute},
		{Name: "mail", VisibilityTimeout: queue.DefaultVisibilityTimeout, MaxAttempts: queue.DefaultMaxAttempts},
	}
	if len(qs) != 2 || qs[0] != want[0] || qs[1] != want[1] {
		t.Fatalf("queues %+v, want %+v", qs, want)
	}
}

// TestConsumersQueuesChecked: a consumer's queue must be declared by the
// app or exist in the database; the error names the missing ones.
func TestConsumersQueuesChecked(t *testing.T) {
	ctx := pgtest.Context(t, time.Minute)
	e := apiOpen(t, runtime.App{Queues: []queue.Declaration{queue.Declare("declared")}}, "", runtime.Config{})
	if _, err := e.r.Queues().Declare(ctx, "elsewhere"); err != nil { // another program's
		t.Fatal(err)
	}
	if err := e.r.CheckQueues(ctx, "declared", "elsewhere"); err != nil {
		t.Fatalf("declared and existing queues: %v", err)
	}
	err := e.r.CheckQueues(ctx, "declared", "missing", "gone")
	if err == nil || !strings.Contains(err.Error(), `queue "missing"`) || !strings.Contains(err.Error(), `queue "gone"`) ||
		strings.Contains(err.Error(), `"declared"`) {
		t.Fatalf("CheckQueues with missing queues: %v", err)
	}
}

// TestQueuePurgeScheduled: the elected leader purges acked messages past
// their queue's retention (the queue tables never grow without bound),
// and records what it removed in the job's durable state.
func TestQueuePurgeScheduled(t *testing.T) {
	ctx := pgtest.Context(t, time.Minute)
	const retention = 2 * time.Second
	app := runtime.App{Name: "purge", Queues: []queue.Declaration{queue.Declare("kept", queue.Retention(retention))}}
	e := apiOpen(t, app, "", runtime.Config{})
	e.r.SetQueuePurgeSchedule("@every 1s")
	e.run()
	q := e.r.Queues()
	if _, err := q.Enqueue(ctx, "kept", queue.New(json.RawMessage(`{}`)), queue.New(json.RawMessage(`{}`))); err != nil {
		t.Fatal(err)
	}
	ds, err := q.Dequeue(ctx, "kept", 2, time.Minute)
	if err != nil || len(ds) != 2 {
		t.Fatalf("dequeue: %v, %v", ds, err)
	}
	acked := time.Now()
	if err := q.Ack(ctx, ds[0].Receipt); err != nil {
		t.Fatal(err)
	}
	rows := func() (acked, live int) {
		t.Helper()
		err := e.r.Pool().QueryRow(ctx, `SELECT count(*) FILTER (WHERE acked_at IS NOT NULL), count(*) FILTER (WHERE acked_at IS NULL)
			FROM `+e.schema+`.queue_messages`).Scan(&acked, &live)
		if err != nil {
			t.Fatal(err)
		}
		return acked, live
	}
	if n, live := rows(); (n != 1 || live != 1) && time.Since(acked) < retention {
		t.Fatalf("before the retention ran out: %d acked, %d live rows; want 1 and 1", n, live)
	}
	obstest.Eventually(t, 30*time.Second, "the acked message purged", func() (bool, string) {
		acked, live := rows()
		return acked == 0 && live == 1, fmt.Sprintf("%d acked, %d live rows", acked, live)
	})
	obstest.Eventually(t, 10*time.Second, "the purge recorded", func() (bool, string) {
		states, err := schedule.States(ctx, e.r.Pool(), e.schema)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range states {
			if s.Name == "queues:purge" && s.Runs > 0 && s.LastStatus == schedule.StatusOK && strings.HasPrefix(s.LastResult, "removed ") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", states)
	})
	// The unacked message was left alone: its delivery is still current.
	if err := q.Ack(ctx, ds[1].Receipt); err != nil {
		t.Fatal(err)
	}
}
