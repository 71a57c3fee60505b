package projection_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/projection"
	"github.com/causewayhq/causeway/worker"
	"github.com/causewayhq/causeway/worker/queue"
	qpostgres "github.com/causewayhq/causeway/worker/queue/postgres"
)

// effectsProbe drives and observes effectsProjection's handler.
type effectsProbe struct {
	calls      atomic.Int64
	perEvent   atomic.Int32 // events emitted per delivery (0: 1)
	rebuilding atomic.Bool  // Rebuilding(ctx) at the last delivery
	queue      atomic.Value // queue name (unset: "jobs")
}

type noticed struct {
	Order string `json:"order"`
	I     int    `json:"i"`
}

// effectsProjection emits, for each OrderPlaced, perEvent Noticed events to
// the stream "notices" and enqueues one job.
func effectsProjection(name string, pr *effectsProbe) *projection.Projection {
	return projection.New(name,
		projection.Categories("order"),
		projection.Partitions(2),
		projection.Retry(projection.RetryPolicy{MaxAttempts: 1}),
		projection.On(func(ctx context.Context, tx pgx.Tx, e eventlog.Envelope[orderPlaced]) error {
			pr.calls.Add(1)
			pr.rebuilding.Store(projection.Rebuilding(ctx))
			n := int(pr.perEvent.Load())
			if n == 0 {
				n = 1
			}
			var evs []eventlog.EventData
			for i := range n {
				ev, err := eventlog.NewEvent("Noticed", noticed{Order: e.Data.Order, I: i})
				if err != nil {
					return err
				}
				evs = append(evs, ev)
			}
			if err := projection.Emit(ctx, "notices", evs...); err != nil {
				return err
			}
			q, _ := pr.queue.Load().(string)
			if q == "" {
				q = "jobs"
			}
			return projection.Enqueue(ctx, q, queue.New(json.RawMessage(fmt.Sprintf(`{"order":%q}`, e.Data.Order))))
		}),
	)
}

// effectsEnv is an EffectsEnv on e's log and a queue store with "jobs".
func (e *env) effectsEnv(t *testing.T) projection.EffectsEnv {
	t.Helper()
	qs, err := qpostgres.New(e.pool, qpostgres.Schema(e.schema))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(qs.Close)
	if _, err := qs.Declare(ctxT(t), "jobs"); err != nil {
		t.Fatal(err)
	}
	return projection.EffectsEnv{Appender: e.log, Queues: qs, Schema: e.schema}
}

// placeOrders appends OrderPlaced for order-1..n and returns the events.
func (e *env) placeOrders(t *testing.T, n int) []eventlog.Event {
	t.Helper()
	ctx := ctxT(t)
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("order-%d", i)
		e.append(t, id, "OrderPlaced", orderPlaced{Order: id, Customer: "c", Total: 1})
	}
	var out []eventlog.Event
	for ev, err := range e.log.ReadAll(ctx, eventlog.Start, eventlog.Filter{Categories: []string{"order"}}) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	if len(out) != n {
		t.Fatalf("read %d events, want %d", len(out), n)
	}
	return out
}

// inTx runs fn in a transaction and commits it, or rolls it back when
// commit is false.
func (e *env) inTx(t *testing.T, commit bool, fn func(tx pgx.Tx) error) {
	t.Helper()
	ctx := ctxT(t)
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if err := fn(tx); err != nil {
		t.Fatal(err)
	}
	if commit {
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// deliverAll hands events to h in tx, as the transactional worker does
// within one batch (one partition).
func deliverAll(ctx context.Context, h worker.Handler, tx pgx.Tx, events ...eventlog.Event) error {
	for _, ev := range events {
		if err := h(ctx, &worker.Delivery{Event: ev, Subscription: "s", Partition: 0, Attempt: 1, Tx: tx}); err != nil {
			return err
		}
	}
	return nil
}

// notices returns the orders of the "notices" stream's events, in order.
func (e *env) notices(t *testing.T) []string {
	t.Helper()
	rows, err := e.pool.Query(ctxT(t), `SELECT data->>'order' || '/' || (data->>'i') FROM `+e.schema+`.events
		WHERE stream_id = 'notices' ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (e *env) jobs(t *testing.T) int {
	return e.count(t, `SELECT count(*) FROM `+e.schema+`.queue_messages WHERE queue = 'jobs'`)
}

func (e *env) held(t *testing.T, owner string) int {
	return e.count(t, `SELECT count(*) FROM `+e.schema+`.projection_effects WHERE owner = $1`, owner)
}

func buffered(calls *atomic.Int64) func(context.Context, pgx.Tx) (projection.EffectsMode, error) {
	return func(context.Context, pgx.Tx) (projection.EffectsMode, error) {
		if calls != nil {
			calls.Add(1)
		}
		return projection.EffectsBuffered, nil
	}
}

func TestEffectsLiveCommitOrRollBackWithTheTransaction(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	fx := e.effectsEnv(t)
	pr := &effectsProbe{}
	p := effectsProjection("orders", pr)
	evs := e.placeOrders(t, 2)
	h := projection.HandlerWithEffects(p, &fx, "orders", nil)

	e.inTx(t, false, func(tx pgx.Tx) error { return deliverAll(ctx, h, tx, evs...) })
	if got, n := e.notices(t), e.jobs(t); len(got) != 0 || n != 0 {
		t.Fatalf("rolled back: notices %v, %d jobs; want none", got, n)
	}
	if pr.rebuilding.Load() {
		t.Fatal("Rebuilding(ctx) is true in live mode")
	}
	e.inTx(t, true, func(tx pgx.Tx) error { return deliverAll(ctx, h, tx, evs...) })
	if got, n := e.notices(t), e.jobs(t); strings.Join(got, ",") != "order-1/0,order-2/0" || n != 2 {
		t.Fatalf("committed: notices %v, %d jobs", got, n)
	}
	// Handled again — a retry, a replay, another build of the projection
	// (same lineage): nothing new.
	for _, owner := range []string{"orders", "orders#2"} {
		h := projection.HandlerWithEffects(p, &fx, owner, nil)
		e.inTx(t, true, func(tx pgx.Tx) error { return deliverAll(ctx, h, tx, evs...) })
	}
	if got, n := e.notices(t), e.jobs(t); len(got) != 2 || n != 2 {
		t.Fatalf("handled again: notices %v, %d jobs; want 2 and 2", got, n)
	}
	// Another projection's effects are its own.
	other := projection.HandlerWithEffects(effectsProjection("other", pr), &fx, "other", nil)
	e.inTx(t, true, func(tx pgx.Tx) error { return deliverAll(ctx, other, tx, evs[0]) })
	if got := e.notices(t); len(got) != 3 {
		t.Fatalf("another projection's notice: %v", got)
	}
}

func TestEffectsThroughTheWorkerAndReplay(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	fx := e.effectsEnv(t)
	pr := &effectsProbe{}
	p := effectsProjection("orders", pr)
	sub, err := p.SubscriptionWith(fx)
	if err != nil {
		t.Fatal(err)
	}
	w, err := worker.New(worker.Config{Log: e.log, Checkpoints: e.cps, MemberID: "m", LeaseTTL: 2 * time.Second}, sub)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = w.Run(wctx); close(done) }()
	for i := 1; i <= 3; i++ { // not placeOrders: reads wait for the worker's transactions
		id := fmt.Sprintf("order-%d", i)
		e.append(t, id, "OrderPlaced", orderPlaced{Order: id, Customer: "c", Total: 1})
	}
	waitFor(t, "3 notices and 3 jobs", func() bool { return len(e.notices(t)) == 3 && e.jobs(t) == 3 })
	cancel()
	<-done

	// A replay runs every handler again; their effects are already there.
	if _, err := projection.Replay(ctx, projection.ReplayConfig{Projection: p, Log: e.log, Checkpoints: e.cps, CatchUp: true,
		Effects: &fx, Worker: worker.Config{MemberID: "replayer", LeaseTTL: 2 * time.Second}}); err != nil {
		t.Fatal(err)
	}
	if c := pr.calls.Load(); c != 6 {
		t.Fatalf("handlers ran %d times, want 6", c)
	}
	if got, n := e.notices(t), e.jobs(t); len(got) != 3 || n != 3 {
		t.Fatalf("after the replay: notices %v, %d jobs; want 3 and 3", got, n)
	}
	if n, _ := e.cps.CountDeadLetters(ctx, "orders"); n != 0 {
		t.Fatalf("%d dead letters", n)
	}
}

func TestEffectsWithoutAnEnvironment(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	evs := e.placeOrders(t, 1)
	p := effectsProjection("orders", &effectsProbe{})
	if err := projection.Emit(ctx, "notices", eventlog.EventData{Type: "Noticed", Data: json.RawMessage(`{}`)}); !errors.Is(err, projection.ErrNoEffects) {
		t.Fatalf("Emit outside a handler: %v", err)
	}
	if err := projection.Enqueue(ctx, "jobs", queue.New(json.RawMessage(`{}`))); !errors.Is(err, projection.ErrNoEffects) {
		t.Fatalf("Enqueue outside a handler: %v", err)
	}
	if projection.Rebuilding(ctx) {
		t.Fatal("Rebuilding outside a handler")
	}
	noEnv := projection.HandlerWithEffects(p, nil, "orders", nil)
	e.inTx(t, false, func(tx pgx.Tx) error {
		if err := deliverAll(ctx, noEnv, tx, evs...); !errors.Is(err, projection.ErrNoEffects) || !projection.IsPermanent(err) {
			t.Fatalf("no EffectsEnv: %v, want a permanent ErrNoEffects", err)
		}
		return nil
	})
	fx := e.effectsEnv(t)
	if err := deliverAll(ctx, projection.HandlerWithEffects(p, &fx, "orders", nil), nil, evs...); !errors.Is(err, projection.ErrNoEffects) {
		t.Fatalf("no transaction: %v", err)
	}
	fx.Appender = nil
	e.inTx(t, false, func(tx pgx.Tx) error {
		if err := deliverAll(ctx, projection.HandlerWithEffects(p, &fx, "orders", nil), tx, evs...); !errors.Is(err, projection.ErrNoEffects) {
			t.Fatalf("no Appender: %v", err)
		}
		return nil
	})
}

func TestEffectsHeldBackAndReleasedAfterOnly(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	fx := e.effectsEnv(t)
	pr := &effectsProbe{}
	p := effectsProjection("orders", pr)
	evs := e.placeOrders(t, 3)
	var modeCalls atomic.Int64
	h := projection.HandlerWithEffects(p, &fx, "orders#2", buffered(&modeCalls))

	e.inTx(t, true, func(tx pgx.Tx) error { return deliverAll(ctx, h, tx, evs...) })
	if !pr.rebuilding.Load() {
		t.Fatal("Rebuilding(ctx) is false while effects are held back")
	}
	if modeCalls.Load() != 1 {
		t.Fatalf("mode decided %d times in one transaction, want once", modeCalls.Load())
	}
	if got, n, held := e.notices(t), e.jobs(t), e.held(t, "orders#2"); len(got) != 0 || n != 0 || held != 6 {
		t.Fatalf("held back: notices %v, %d jobs, %d held; want none, none, 6", got, n, held)
	}
	// Handled again in a new transaction: the mode is decided again, the
	// held-back effects are replaced, not added to.
	e.inTx(t, true, func(tx pgx.Tx) error { return deliverAll(ctx, h, tx, evs[2]) })
	if modeCalls.Load() != 2 || e.held(t, "orders#2") != 6 {
		t.Fatalf("second transaction: %d mode decisions, %d held", modeCalls.Load(), e.held(t, "orders#2"))
	}

	// Released after the first event: the second's and the third's, in order.
	var n int
	e.inTx(t, true, func(tx pgx.Tx) (err error) {
		n, err = projection.ReleaseEffects(ctx, tx, fx, "orders#2", evs[0].Position)
		return err
	})
	if got, jobs := e.notices(t), e.jobs(t); n != 4 || strings.Join(got, ",") != "order-2/0,order-3/0" || jobs != 2 {
		t.Fatalf("released %d: notices %v, %d jobs; want 4, order-2 then order-3, 2 jobs", n, got, jobs)
	}
	if held := e.held(t, "orders#2"); held != 0 {
		t.Fatalf("%d effects still held after the release", held)
	}
	// Once: a second release has nothing to do.
	e.inTx(t, true, func(tx pgx.Tx) (err error) {
		n, err = projection.ReleaseEffects(ctx, tx, fx, "orders#2", eventlog.Start)
		return err
	})
	if got, jobs := e.notices(t), e.jobs(t); n != 0 || len(got) != 2 || jobs != 2 {
		t.Fatalf("second release %d: notices %v, %d jobs", n, got, jobs)
	}
}

func TestEffectsReleaseOfWhatTheLiveBuildDidIsHarmless(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	fx := e.effectsEnv(t)
	pr := &effectsProbe{}
	p := effectsProjection("orders", pr)
	evs := e.placeOrders(t, 3)
	// The live build handled the first two (one notice each)...
	live := projection.HandlerWithEffects(p, &fx, "orders#1", nil)
	e.inTx(t, true, func(tx pgx.Tx) error { return deliverAll(ctx, live, tx, evs[:2]...) })
	// ...the new build, whose code emits two notices per order, all three.
	pr.perEvent.Store(2)
	next := projection.HandlerWithEffects(p, &fx, "orders#2", buffered(nil))
	e.inTx(t, true, func(tx pgx.Tx) error { return deliverAll(ctx, next, tx, evs...) })
	// Its release after the live build's slowest checkpoint (the first
	// event; a faster partition did the second already) and again after a
	// rolled-back try of the swap.
	e.inTx(t, false, func(tx pgx.Tx) error {
		_, err := projection.ReleaseEffects(ctx, tx, fx, "orders#2", evs[0].Position)
		return err
	})
	e.inTx(t, true, func(tx pgx.Tx) error {
		n, err := projection.ReleaseEffects(ctx, tx, fx, "orders#2", evs[0].Position)
		if n != 4 {
			t.Errorf("released %d effects, want 4", n)
		}
		return err
	})
	// order-2/0 and its job were there already; order-2/1 is new.
	want := "order-1/0,order-2/0,order-2/1,order-3/0,order-3/1"
	if got, jobs := e.notices(t), e.jobs(t); strings.Join(got, ",") != want || jobs != 3 {
		t.Fatalf("notices %v, %d jobs; want %s and 3 jobs", got, jobs, want)
	}
}

func TestEffectsPruneDropAndRefusals(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	fx := e.effectsEnv(t)
	pr := &effectsProbe{}
	p := effectsProjection("orders", pr)
	evs := e.placeOrders(t, 3)
	h := projection.HandlerWithEffects(p, &fx, "orders#2", buffered(nil))
	e.inTx(t, true, func(tx pgx.Tx) error { return deliverAll(ctx, h, tx, evs[:2]...) })
	pr.queue.Store("undeclared") // the third's job goes to a queue that does not exist
	e.inTx(t, true, func(tx pgx.Tx) error { return deliverAll(ctx, h, tx, evs[2]) })
	other := projection.HandlerWithEffects(p, &fx, "orders#3", buffered(nil))
	e.inTx(t, true, func(tx pgx.Tx) error { return deliverAll(ctx, other, tx, evs...) })

	e.inTx(t, true, func(tx pgx.Tx) error {
		n, err := projection.PruneEffects(ctx, tx, e.schema, "orders#2", evs[1].Position)
		if n != 4 {
			t.Errorf("pruned %d, want 4 (two events' notice and job)", n)
		}
		return err
	})
	if held := e.held(t, "orders#2"); held != 2 {
		t.Fatalf("%d held after the prune, want 2", held)
	}
	// The refused job is skipped; the notice before it and the transaction
	// survive it.
	e.inTx(t, true, func(tx pgx.Tx) error {
		n, err := projection.ReleaseEffects(ctx, tx, fx, "orders#2", eventlog.Start)
		if n != 1 {
			t.Errorf("released %d, want 1", n)
		}
		return err
	})
	if got, jobs := e.notices(t), e.jobs(t); strings.Join(got, ",") != "order-3/0" || jobs != 0 {
		t.Fatalf("notices %v, %d jobs; want order-3/0 only", got, jobs)
	}
	if held := e.held(t, "orders#3"); held != 6 {
		t.Fatalf("another build's effects: %d held, want 6", held)
	}
	e.inTx(t, true, func(tx pgx.Tx) error { return projection.DropEffects(ctx, tx, e.schema, "orders#3") })
	if held := e.held(t, "orders#3"); held != 0 {
		t.Fatalf("%d held after the drop", held)
	}
	if _, err := projection.PruneEffects(ctx, nil, "bad schema!", "x", eventlog.Start); err == nil {
		t.Fatal("a bad schema name was accepted")
	}
}

func TestEffectsModeFailures(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	fx := e.effectsEnv(t)
	p := effectsProjection("orders", &effectsProbe{})
	evs := e.placeOrders(t, 1)
	boom := errors.New("boom")
	failing := projection.HandlerWithEffects(p, &fx, "orders#2", func(context.Context, pgx.Tx) (projection.EffectsMode, error) { return 0, boom })
	unknown := projection.HandlerWithEffects(p, &fx, "orders#2", func(context.Context, pgx.Tx) (projection.EffectsMode, error) { return 7, nil })
	e.inTx(t, false, func(tx pgx.Tx) error {
		if err := deliverAll(ctx, failing, tx, evs...); !errors.Is(err, boom) {
			t.Fatalf("failing mode: %v", err)
		}
		if err := deliverAll(ctx, unknown, tx, evs...); err == nil || !strings.Contains(err.Error(), "unknown") {
			t.Fatalf("unknown mode: %v", err)
		}
		return nil
	})
}
