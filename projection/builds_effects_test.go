package projection_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/projection"
	"github.com/causewayhq/causeway/worker"
	"github.com/causewayhq/causeway/worker/queue"
)

// notice is what fxItemsProjection emits for each event it handles: the
// source event's id and the code version of the build that emitted it.
// Every build derives the same event id for a source event, so the log
// keeps whichever came first, and By tells which build that was.
type notice struct {
	Source string `json:"source"`
	By     int    `json:"by"`
}

// fxProbe observes fxItemsProjection's deliveries.
type fxProbe struct {
	rebuilding atomic.Int64 // deliveries with Rebuilding(ctx)
	live       atomic.Int64 // deliveries without
	mu         sync.Mutex
	wrong      []string // deliveries whose mode contradicts the build's state
}

func (p *fxProbe) fail(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.wrong) < 5 {
		p.wrong = append(p.wrong, fmt.Sprintf(format, args...))
	}
}

func (p *fxProbe) failures() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.wrong...)
}

// errStalled is transient for the worker: the transaction rolls back (no
// lock kept) and the batch is tried again later.
var errStalled = &pgconn.PgError{Code: "40001", Message: "test: this build does not handle the stream"}

// fxItemsProjection is itemsProjection whose handler also has effects: for
// each event of item-X, one notice emitted to the stream notice-X and one
// message enqueued on "jobs", both naming the event and the version. It
// checks, in the handler's transaction, that a delivery whose effects run
// live (Rebuilding false) does not belong to a build still building. Events of the
// stream named stall are never handled (their partition stands still);
// those of the stream named bad fail for good (dead letters).
func fxItemsProjection(schema, live string, version int, probe *fxProbe, stall, bad string) *projection.Projection {
	builds := pgx.Identifier{schema, "projection_builds"}.Sanitize()
	return projection.New("items",
		projection.Version(version),
		projection.Schema(live),
		projection.Categories("item"),
		projection.Partitions(4),
		projection.Retry(projection.RetryPolicy{MaxAttempts: 1}),
		projection.On(func(ctx context.Context, tx pgx.Tx, e eventlog.Envelope[tick]) error {
			switch e.Event.StreamID {
			case stall:
				return errStalled
			case bad:
				return projection.Permanent(errors.New("test: this build cannot handle the stream"))
			}
			if err := countItem(ctx, tx, e, version); err != nil {
				return err
			}
			if projection.Rebuilding(ctx) {
				probe.rebuilding.Add(1)
			} else {
				probe.live.Add(1)
				// Once a transaction saw its build live, no later statement
				// of it sees the build building (READ COMMITTED; it may see
				// it retired: that transaction is fenced).
				var state string
				if err := tx.QueryRow(ctx, `SELECT state FROM `+builds+` WHERE subscription = $1`,
					checkpoint.BuildName("items", version)).Scan(&state); err != nil {
					return err
				}
				if state == string(projection.BuildBuilding) {
					probe.fail("%s handled with live effects while its build is %s", e.Event.StreamID, state)
				}
			}
			src := e.Event.ID.String()
			ev, err := eventlog.NewEvent("Noticed", notice{Source: src, By: version})
			if err != nil {
				return err
			}
			if err := projection.Emit(ctx, "notice-"+strings.TrimPrefix(e.Event.StreamID, "item-"), ev); err != nil {
				return err
			}
			return projection.Enqueue(ctx, "jobs", queue.New(json.RawMessage(fmt.Sprintf(`{"source":%q,"by":%d}`, src, version))))
		}),
		projection.OnSetup(setupItems),
	)
}

// TestBlueGreenRebuildEffects: a versioned projection whose handler writes
// its read model, emits an event and enqueues a message per event. Version
// 1 runs live under continuing appends; version 2 is deployed, builds
// beside it and is switched to. Version 1 never gets past one stream's
// events (its partition stands still) and dead-letters another's, so
// version 2 handles, while building, events whose effects nobody carried
// out yet, after version 1's checkpoints and behind them.
//
// Every source event's notice is in the log exactly once and its message
// in the queue exactly once (none lost across the switch, none doubled);
// while version 2 was building its handlers saw Rebuilding(ctx) and nothing
// it emitted or enqueued was visible (checked by a poller reading the
// build's state and the effects in one snapshot, and afterwards by the
// effects' transaction times: none before the switch); at the switch it
// carried out what it had held back for those streams; after it, it
// emits live. The old runner then stops without waiting out the workers'
// shutdown timeout.
func TestBlueGreenRebuildEffects(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	fx := e.effectsEnv(t)
	live := e.schema + "_items"
	var p1, p2 fxProbe
	b1 := e.buildsWith(t, "old", time.Hour, &fx, fxItemsProjection(e.schema, live, 1, &p1, "item-slow", "item-bad"))
	stopOld := runBuilds(t, b1)
	e.appendTicks(t, 40, 400)
	waitFor(t, "build 1 live with every event", func() bool {
		s, err := e.readLive(ctx, live)
		return err == nil && s.events == 400 && s.version == 1
	})
	// Version 1 dead-letters item-bad's first event and parks the others
	// behind it: their effects can only come from version 2, which handles
	// them while building, though they lie behind version 1's checkpoints.
	const bad = 3
	for i := 0; i < bad; i++ {
		ev, _ := eventlog.NewEvent("Tick", tick{N: int64(i)})
		if _, err := e.log.Append(ctx, "item-bad", eventlog.Any, ev); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "version 1's dead letters", func() bool {
		dls, err := e.cps.DeadLetters(ctx, checkpoint.DeadLetterQuery{Subscription: "items#1"})
		return err == nil && len(dls) == bad
	})

	// The poller: in one snapshot, build 2's state and what version 2
	// emitted or enqueued. While it is building, that must be nothing.
	var (
		pollErr     = make(chan error, 1)
		stopPoll    = make(chan struct{})
		sawBuilding atomic.Bool
	)
	go func() {
		q := fmt.Sprintf(`SELECT coalesce((SELECT state FROM %[1]s.projection_builds WHERE projection = 'items' AND build = 2), ''),
			(SELECT count(*) FROM %[1]s.events WHERE category = 'notice' AND data->>'by' = '2'),
			(SELECT count(*) FROM %[1]s.queue_messages WHERE queue = 'jobs' AND payload->>'by' = '2')`, e.schema)
		for {
			select {
			case <-stopPoll:
				pollErr <- nil
				return
			default:
			}
			var state string
			var evs, msgs int
			if err := e.pool.QueryRow(ctx, q).Scan(&state, &evs, &msgs); err != nil {
				pollErr <- err
				return
			}
			if state == string(projection.BuildBuilding) {
				sawBuilding.Store(true)
				if evs != 0 || msgs != 0 {
					pollErr <- fmt.Errorf("while build 2 was building, %d events and %d messages of version 2 were visible", evs, msgs)
					return
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	appendDone, stopAppend := make(chan struct{}), make(chan struct{})
	var appended atomic.Int64
	appended.Store(400 + bad)
	go func() {
		defer close(appendDone)
		for i := 0; ; i++ {
			select {
			case <-stopAppend:
				return
			default:
			}
			ev, _ := eventlog.NewEvent("Tick", tick{N: int64(i)})
			if _, err := e.log.Append(ctx, fmt.Sprintf("item-%d", i%40), eventlog.Any, ev); err != nil {
				t.Error(err)
				return
			}
			appended.Add(1)
			time.Sleep(2 * time.Millisecond)
		}
	}()

	// Version 1 will never handle item-slow: their effects can only come
	// from version 2, which handles them while catching up (they are
	// before its target), holds them back and releases them at the switch.
	const slow = 10
	for i := 0; i < slow; i++ {
		ev, _ := eventlog.NewEvent("Tick", tick{N: int64(i)})
		if _, err := e.log.Append(ctx, "item-slow", eventlog.Any, ev); err != nil {
			t.Fatal(err)
		}
		appended.Add(1)
	}
	// The deployment.
	b2 := e.buildsWith(t, "new", time.Hour, &fx, fxItemsProjection(e.schema, live, 2, &p2, "", ""))
	runBuilds(t, b2)
	t0 := time.Now()
	waitFor(t, "build 2 started", func() bool { return buildsByNumber(t, b1, "items")[2].State == projection.BuildBuilding })
	waitFor(t, "build 2 live", func() bool {
		bs := buildsByNumber(t, b1, "items")
		return bs[2].State == projection.BuildLive && bs[1].State == projection.BuildRetired
	})
	t.Logf("switched after %v (%d appended)", time.Since(t0), appended.Load())
	time.Sleep(200 * time.Millisecond) // appends go on after the switch: build 2 handles them live
	close(stopAppend)
	<-appendDone
	// A live build's effects commit with its read model: once the live
	// view counts every event, every effect is in.
	waitFor(t, "every event in the live view", func() bool {
		s, err := e.readLive(ctx, live)
		return err == nil && s.events == appended.Load()
	})
	close(stopPoll)
	// The old runner stops its retired build's worker at once: that
	// worker's transactions are refused (fenced), so there is nothing to
	// finish — waiting for it would stall the builds loop for the workers'
	// whole shutdown timeout.
	t1 := time.Now()
	stopOld()
	if d := time.Since(t1); d > worker.DefaultShutdownTimeout/2 {
		t.Errorf("the old runner took %v to stop", d)
	}
	if err := <-pollErr; err != nil {
		t.Error(err)
	}
	if !sawBuilding.Load() {
		t.Error("the poller never saw build 2 building")
	}

	// Exactly once: one notice and one message per source event.
	for _, c := range []struct{ what, sql string }{
		{"notices", `SELECT s.stream_id || ' v' || s.version || ': ' || count(n.event_id) FROM %[1]s.events s
			LEFT JOIN %[1]s.events n ON n.category = 'notice' AND n.data->>'source' = s.event_id::text
			WHERE s.category = 'item' GROUP BY s.stream_id, s.version HAVING count(n.event_id) <> 1 ORDER BY 1 LIMIT 5`},
		{"messages", `SELECT s.stream_id || ' v' || s.version || ': ' || count(m.id) FROM %[1]s.events s
			LEFT JOIN %[1]s.queue_messages m ON m.queue = 'jobs' AND m.payload->>'source' = s.event_id::text
			WHERE s.category = 'item' GROUP BY s.stream_id, s.version HAVING count(m.id) <> 1 ORDER BY 1 LIMIT 5`},
	} {
		rows, err := e.pool.Query(ctx, fmt.Sprintf(c.sql, e.schema))
		if err != nil {
			t.Fatal(err)
		}
		bad, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		if len(bad) > 0 {
			t.Errorf("%s: source events without exactly one (first 5): %v", c.what, bad)
		}
	}
	n := int64(appended.Load())
	if got := e.count(t, `SELECT count(*) FROM `+e.schema+`.events WHERE category = 'notice'`); int64(got) != n {
		t.Errorf("%d notices for %d events", got, n)
	}
	if got := e.jobs(t); int64(got) != n {
		t.Errorf("%d messages for %d events", got, n)
	}

	// Version 2's effects, by when their transaction began against the
	// switch's: none before it (held back), some in it (released), some
	// after it (live). The stalled and the dead-lettered streams' are all
	// version 2's.
	for _, c := range []struct{ what, sql string }{
		{"notices", `SELECT count(*) FILTER (WHERE n.recorded_at < b.live_at), count(*) FILTER (WHERE n.recorded_at = b.live_at),
			count(*) FILTER (WHERE n.recorded_at > b.live_at), count(*) FILTER (WHERE n.stream_id IN ('notice-slow', 'notice-bad'))
			FROM %[1]s.events n, %[1]s.projection_builds b
			WHERE b.projection = 'items' AND b.build = 2 AND n.category = 'notice' AND n.data->>'by' = '2'`},
		{"messages", `SELECT count(*) FILTER (WHERE m.enqueued_at < b.live_at), count(*) FILTER (WHERE m.enqueued_at = b.live_at),
			count(*) FILTER (WHERE m.enqueued_at > b.live_at), count(*) FILTER (WHERE m.payload->>'source' IN
				(SELECT event_id::text FROM %[1]s.events WHERE stream_id IN ('item-slow', 'item-bad')))
			FROM %[1]s.queue_messages m, %[1]s.projection_builds b
			WHERE b.projection = 'items' AND b.build = 2 AND m.queue = 'jobs' AND m.payload->>'by' = '2'`},
	} {
		var before, at, after, slowN int
		if err := e.pool.QueryRow(ctx, fmt.Sprintf(c.sql, e.schema)).Scan(&before, &at, &after, &slowN); err != nil {
			t.Fatal(err)
		}
		t.Logf("version 2's %s: %d before the switch, %d released at it, %d after it", c.what, before, at, after)
		if before != 0 || at < slow+bad || after == 0 || slowN != slow+bad {
			t.Errorf("version 2's %s: %d before the switch (want 0), %d released at it (want ≥ %d), %d after it (want > 0), %d of item-slow and item-bad (want %d)",
				c.what, before, at, slow+bad, after, slowN, slow+bad)
		}
	}

	// The handlers saw the modes: version 1 always live; version 2 held
	// back while building, live after, and never live while building.
	if p1.rebuilding.Load() != 0 || p1.live.Load() == 0 {
		t.Errorf("version 1: %d deliveries rebuilding, %d live", p1.rebuilding.Load(), p1.live.Load())
	}
	if p2.rebuilding.Load() == 0 || p2.live.Load() == 0 {
		t.Errorf("version 2: %d deliveries rebuilding, %d live", p2.rebuilding.Load(), p2.live.Load())
	}
	for _, p := range []*fxProbe{&p1, &p2} {
		if w := p.failures(); len(w) > 0 {
			t.Errorf("modes: %v", w)
		}
	}
	if n := e.held(t, "items#2"); n != 0 {
		t.Errorf("%d effects still held back for the live build", n)
	}
	if n, _ := e.cps.CountDeadLetters(ctx, "items#2"); n != 0 {
		t.Errorf("build 2: %d dead letters", n)
	}
}
