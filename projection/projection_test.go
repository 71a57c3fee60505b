package projection_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	pgstore "github.com/causewayhq/causeway/eventlog/postgres"
	"github.com/causewayhq/causeway/internal/migrations"
	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/projection"
	"github.com/causewayhq/causeway/worker"
)

func TestMain(m *testing.M) {
	if os.Getenv(buildsChildEnv) != "" {
		os.Exit(pgtest.ChildMain(runBuildsChild))
	}
	pgtest.Main(m)
}

type env struct {
	schema string
	pool   *pgxpool.Pool
	log    *pgstore.Store
	cps    *checkpoint.PostgresStore
	// reader, if set, is what workers read (an eventlog.UpcastStore).
	reader worker.Log
}

func newEnv(t *testing.T) *env {
	t.Helper()
	schema, pool := pgtest.NewSchema(t)
	ctx := context.Background()
	if _, err := migrations.Apply(ctx, pool, schema); err != nil {
		t.Fatal(err)
	}
	log, err := pgstore.New(pool, pgstore.Config{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(log.Close)
	cps, err := checkpoint.NewPostgres(pool, schema)
	if err != nil {
		t.Fatal(err)
	}
	return &env{schema: schema, pool: pool, log: log, cps: cps}
}

func ctxT(t *testing.T) context.Context { return pgtest.Context(t, 3*time.Minute) }

func (e *env) append(t *testing.T, stream, typ string, v any) {
	t.Helper()
	ev, err := eventlog.NewEvent(typ, v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.log.Append(ctxT(t), stream, eventlog.Any, ev); err != nil {
		t.Fatal(err)
	}
}

func (e *env) run(t *testing.T, member string, ps ...*projection.Projection) context.CancelFunc {
	t.Helper()
	var subs []worker.Subscription
	for _, p := range ps {
		s, err := p.Subscription()
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
	}
	var log worker.Log = e.log
	if e.reader != nil {
		log = e.reader
	}
	w, err := worker.New(worker.Config{Log: log, Checkpoints: e.cps, MemberID: member, LeaseTTL: 2 * time.Second}, subs...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = w.Run(ctx); close(done) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return cancel
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *env) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(ctxT(t), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

type orderPlaced struct {
	Order    string  `json:"order"`
	Customer string  `json:"customer"`
	Total    float64 `json:"total"`
}

type orderShipped struct {
	Order string `json:"order"`
}

func (orderPlaced) EventType() string  { return "OrderPlaced" }
func (orderShipped) EventType() string { return "OrderShipped" }

// ordersProjection keeps one row per order; it refuses to apply a stream's
// events out of order or twice (its version check), so any duplicate
// delivery would surface as a dead letter.
func ordersProjection(schema, name string, calls *atomic.Int64) *projection.Projection {
	table := schema + "." + name
	apply := func(ctx context.Context, tx pgx.Tx, e eventlog.Event, status string, total *float64, customer string) error {
		if calls != nil {
			calls.Add(1)
		}
		tag, err := tx.Exec(ctx, `UPDATE `+table+` SET status = $2, version = $3 WHERE id = $1 AND version = $3 - 1`, e.StreamID, status, e.Version)
		if err != nil || tag.RowsAffected() == 1 {
			return err
		}
		if e.Version != 1 {
			return projection.Permanent(fmt.Errorf("%s v%d out of order", e.StreamID, e.Version))
		}
		_, err = tx.Exec(ctx, `INSERT INTO `+table+` (id, customer, status, total, version) VALUES ($1, $2, $3, $4, 1)`, e.StreamID, customer, status, *total)
		return err
	}
	return projection.New(name,
		projection.Categories("order"),
		projection.Partitions(4),
		projection.Retry(projection.RetryPolicy{MaxAttempts: 1}),
		projection.On(func(ctx context.Context, tx pgx.Tx, e eventlog.Envelope[orderPlaced]) error {
			return apply(ctx, tx, e.Event, "placed", &e.Data.Total, e.Data.Customer)
		}),
		projection.On(func(ctx context.Context, tx pgx.Tx, e eventlog.Envelope[orderShipped]) error {
			return apply(ctx, tx, e.Event, "shipped", nil, "")
		}),
		projection.OnSetup(func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+table+` (id text PRIMARY KEY, customer text NOT NULL,
			status text NOT NULL, total numeric NOT NULL, version bigint NOT NULL)`)
			return err
		}),
		projection.OnReset(func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `TRUNCATE `+table)
			return err
		}),
	)
}

func TestHandlersSkipsAndDecodeFailures(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	p := ordersProjection(e.schema, "orders", nil)
	if err := projection.Setup(ctx, e.pool, e.schema, p); err != nil {
		t.Fatal(err)
	}
	if err := projection.Setup(ctx, e.pool, e.schema, p); err != nil { // idempotent
		t.Fatal(err)
	}
	e.append(t, "order-1", "OrderPlaced", orderPlaced{"order-1", "ann", 10})
	e.append(t, "order-1", "OrderNoted", map[string]string{"note": "no handler for this"})
	e.append(t, "order-2", "OrderPlaced", map[string]any{"total": "not a number"})
	e.append(t, "order-3", "OrderPlaced", orderPlaced{"order-3", "bob", 5})
	e.append(t, "order-3", "OrderShipped", orderShipped{"order-3"})
	e.append(t, "payment-1", "OrderPlaced", orderPlaced{"x", "y", 1}) // other category
	e.run(t, "m", p)
	waitFor(t, "orders handled", func() bool {
		return e.count(t, `SELECT count(*) FROM `+e.schema+`.orders`) == 2 && e.count(t, `SELECT count(*) FROM `+e.schema+`.dead_letters`) == 1
	})
	if n := e.count(t, `SELECT count(*) FROM `+e.schema+`.orders WHERE id = 'order-3' AND status = 'shipped'`); n != 1 {
		t.Fatal("order-3 not shipped")
	}
	if st := p.Stats(); st.Skipped != 1 || st.Handled < 4 {
		t.Fatalf("stats %+v: want 1 skipped, 4+ handled", st)
	}
	dls, _ := e.cps.DeadLetters(ctx, checkpoint.DeadLetterQuery{Subscription: "orders"})
	if len(dls) != 1 || dls[0].StreamID != "order-2" || dls[0].Attempts != 1 || !strings.Contains(dls[0].Error, "decode OrderPlaced") {
		t.Fatalf("dead letters %+v", dls)
	}
}

func TestRegistrationErrors(t *testing.T) {
	h := func(context.Context, pgx.Tx, eventlog.Envelope[orderShipped]) error { return nil }
	raw := func(context.Context, pgx.Tx, eventlog.Envelope[json.RawMessage]) error { return nil }
	type nameless struct{}
	p := projection.New("bad name!",
		projection.On(h),
		projection.OnType("OrderShipped", h),
		projection.OnType("not a type", raw),
		projection.OnType[orderShipped]("B", nil),
		projection.On(func(context.Context, pgx.Tx, eventlog.Envelope[nameless]) error { return nil }),
	)
	err := p.Err()
	for _, want := range []string{"invalid subscription name", "two handlers for \"OrderShipped\"", "handler for \"not a type\"",
		"handler for \"B\"", "projection_test.nameless"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Err() = %v; want it to mention %q", err, want)
		}
	}
	if !errors.Is(err, eventlog.ErrTypeMismatch) || !errors.Is(err, eventlog.ErrUnnamedType) {
		t.Errorf("Err() = %v; want ErrTypeMismatch (B is not OrderShipped) and ErrUnnamedType", err)
	}
	if _, err := p.Subscription(); err == nil {
		t.Error("Subscription() accepted a broken projection")
	}
	if err := projection.New("empty").Err(); err == nil || !strings.Contains(err.Error(), "no handlers") {
		t.Errorf("no handlers: %v", err)
	}
	if err := projection.New("nil", projection.OnType("X", (func(context.Context, pgx.Tx, eventlog.Envelope[json.RawMessage]) error)(nil))).Err(); err == nil || !strings.Contains(err.Error(), "nil handler") {
		t.Errorf("nil handler: %v", err)
	}
}

// TestUpcastingOldShapes: events stored under an old type and shape reach
// the handler as the current Go type.
func TestUpcastingOldShapes(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	type placedV2 struct {
		Order string  `json:"order"`
		Total float64 `json:"total"`
	}
	var (
		mu  sync.Mutex
		got = map[string]placedV2{}
	)
	p := projection.New("upcast", // filter by types: the old types must be read too
		projection.OnType("OrderPlaced", func(ctx context.Context, tx pgx.Tx, e eventlog.Envelope[placedV2]) error {
			if e.Type != "OrderPlaced" {
				return fmt.Errorf("handler saw type %s", e.Type)
			}
			mu.Lock()
			got[e.Data.Order] = e.Data
			mu.Unlock()
			return nil
		}))
	// v1 stored cents under another name; v2 renamed the field. The
	// upcasters belong to the log the workers read (as runtime.App's do).
	var err error
	e.reader, err = eventlog.WithUpcasters(e.log,
		eventlog.Upcaster{From: "OrderPlaced.v1", To: "OrderPlaced.v2", Fn: func(d json.RawMessage) (json.RawMessage, error) {
			var old struct {
				ID    string `json:"id"`
				Cents int64  `json:"amount_cents"`
			}
			if err := json.Unmarshal(d, &old); err != nil {
				return nil, err
			}
			return json.Marshal(map[string]any{"order": old.ID, "total": float64(old.Cents) / 100})
		}},
		eventlog.Upcaster{From: "OrderPlaced.v2", To: "OrderPlaced"})
	if err != nil {
		t.Fatal(err)
	}
	e.append(t, "order-1", "OrderPlaced.v1", map[string]any{"id": "order-1", "amount_cents": 1234})
	e.append(t, "order-2", "OrderPlaced.v2", placedV2{"order-2", 7.5})
	e.append(t, "order-3", "OrderPlaced", placedV2{"order-3", 1})
	e.run(t, "m", p)
	waitFor(t, "3 events", func() bool { return p.Stats().Handled == 3 })
	mu.Lock()
	defer mu.Unlock()
	for _, want := range []placedV2{{"order-1", 12.34}, {"order-2", 7.5}, {"order-3", 1}} {
		if got[want.Order] != want {
			t.Fatalf("handled %+v, want %+v", got, want)
		}
	}
	if n, _ := e.cps.CountDeadLetters(ctx, "upcast"); n != 0 {
		t.Fatalf("%d dead letters", n)
	}
}

// TestReplayRebuildsOnlyItsProjection: a replay, with workers of every
// subscription running and events still arriving, rebuilds one projection
// exactly (its strict version check would dead-letter any duplicate) while
// the other projection and a plain subscription are untouched.
func TestReplayRebuildsOnlyItsProjection(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	var callsA, callsB atomic.Int64
	a := ordersProjection(e.schema, "orders_a", &callsA)
	b := ordersProjection(e.schema, "orders_b", &callsB)
	if err := projection.Setup(ctx, e.pool, e.schema, a, b); err != nil {
		t.Fatal(err)
	}
	var plain atomic.Int64
	plainSub := worker.NewSubscription("plain", worker.OnAny(func(context.Context, *worker.Delivery) error { plain.Add(1); return nil }))

	for i := 0; i < 300; i++ {
		var v eventlog.Named = orderPlaced{Customer: "c", Total: 1}
		if i >= 60 {
			v = orderShipped{}
		}
		ev, err := eventlog.Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.log.Append(ctx, fmt.Sprintf("order-%d", i%60), eventlog.Any, ev); err != nil {
			t.Fatal(err)
		}
	}
	sa, _ := a.Subscription()
	sb, _ := b.Subscription()
	w, err := worker.New(worker.Config{Log: e.log, Checkpoints: e.cps, MemberID: "runner", LeaseTTL: 2 * time.Second}, sa, sb, plainSub)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(context.Background())
	wdone := make(chan struct{})
	go func() { _ = w.Run(wctx); close(wdone) }()
	defer func() { cancel(); <-wdone }()

	waitFor(t, "all caught up", func() bool { return callsA.Load() == 300 && callsB.Load() == 300 && plain.Load() == 300 })
	bParts, _ := e.cps.Partitions(ctx, "orders_b")
	plainParts, _ := e.cps.Partitions(ctx, "plain")
	// Damage A's read model, as a bug would.
	if _, err := e.pool.Exec(ctx, `UPDATE `+e.schema+`.orders_a SET status = 'corrupt'`); err != nil {
		t.Fatal(err)
	}

	// More events arrive during the replay.
	more := make(chan error, 1)
	go func() {
		for i := 300; i < 400; i++ {
			ev, _ := eventlog.NewEvent("OrderPlaced", orderPlaced{Customer: "c", Total: 1})
			if _, err := e.log.Append(ctx, fmt.Sprintf("order-new%d", i), eventlog.Any, ev); err != nil {
				more <- err
				return
			}
		}
		more <- nil
	}()
	var out bytes.Buffer
	res, err := projection.Replay(ctx, projection.ReplayConfig{
		Projection: a, Log: e.log, Checkpoints: e.cps, CatchUp: true, Progress: &out,
		Worker: worker.Config{MemberID: "replayer", LeaseTTL: 2 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-more; err != nil {
		t.Fatal(err)
	}
	if res.Events < 300 || !strings.Contains(out.String(), "replay orders_a: ") || !strings.Contains(out.String(), "(100.0%)") {
		t.Fatalf("replay result %+v, progress output %q", res, out.String())
	}
	waitFor(t, "A has every order", func() bool { return e.count(t, `SELECT count(*) FROM `+e.schema+`.orders_a`) == 160 })
	waitFor(t, "B has every order", func() bool { return e.count(t, `SELECT count(*) FROM `+e.schema+`.orders_b`) == 160 })
	if n := e.count(t, `SELECT count(*) FROM `+e.schema+`.orders_a WHERE status = 'corrupt'`); n != 0 {
		t.Fatalf("%d corrupt rows survived the replay", n)
	}
	for _, tbl := range []string{"orders_a", "orders_b"} {
		if n := e.count(t, `SELECT count(*) FROM `+e.schema+`.`+tbl+` WHERE id NOT LIKE 'order-new%' AND status <> 'shipped'`); n != 0 {
			t.Fatalf("%s: %d orders not shipped", tbl, n)
		}
	}
	if n, _ := e.cps.CountDeadLetters(ctx, "orders_a"); n != 0 {
		dls, _ := e.cps.DeadLetters(ctx, checkpoint.DeadLetterQuery{Subscription: "orders_a"})
		t.Fatalf("replay applied events twice or out of order: %+v", dls[0])
	}
	// B and the plain subscription were never rewound: their handlers saw
	// each event once, and their checkpoints only moved forward.
	waitFor(t, "B and plain saw the 100 new events", func() bool { return callsB.Load() == 400 && plain.Load() == 400 })
	for i, p := range mustParts(t, e, "orders_b") {
		if p.Checkpoint.Before(bParts[i].Checkpoint) || p.Epoch != bParts[i].Epoch {
			t.Fatalf("orders_b partition %d moved back or was fenced: %+v → %+v", i, bParts[i], p)
		}
	}
	for i, p := range mustParts(t, e, "plain") {
		if p.Checkpoint.Before(plainParts[i].Checkpoint) || p.Epoch != plainParts[i].Epoch {
			t.Fatalf("plain partition %d moved back or was fenced", i)
		}
	}
	if callsA.Load() < 700 {
		t.Fatalf("A's handlers ran %d times; the replay should have run all 300 old events again", callsA.Load())
	}
}

func mustParts(t *testing.T, e *env, sub string) []checkpoint.PartitionState {
	ps, err := e.cps.Partitions(ctxT(t), sub)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func TestReplayWithoutRunnersResetsOnly(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	p := ordersProjection(e.schema, "orders", nil)
	if err := projection.Setup(ctx, e.pool, e.schema, p); err != nil {
		t.Fatal(err)
	}
	e.append(t, "order-1", "OrderPlaced", orderPlaced{Customer: "c", Total: 1})
	// Never run: a reset has no checkpoints to move and is not an error.
	res, err := projection.Replay(ctx, projection.ReplayConfig{Projection: p, Log: e.log, Checkpoints: e.cps})
	if err != nil || res.Events != 1 {
		t.Fatalf("replay %+v, %v", res, err)
	}
	if _, err := projection.Replay(ctx, projection.ReplayConfig{Projection: p}); err == nil {
		t.Fatal("replay without stores accepted")
	}
	broken := projection.New("broken")
	if _, err := projection.Replay(ctx, projection.ReplayConfig{Projection: broken, Log: e.log, Checkpoints: e.cps}); err == nil {
		t.Fatal("broken projection accepted")
	}
}
