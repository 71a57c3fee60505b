package peers

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	pgstore "github.com/causewayhq/causeway/eventlog/postgres"
	"github.com/causewayhq/causeway/projection"
	"github.com/causewayhq/causeway/worker"
)

// The catch-up scenarios: Options.CatchUpEvents events preloaded (untimed)
// into Causeway's log, watermill-sql's topic table and the plain table,
// the same payloads, over 10,000 streams (orders); each repetition a fresh
// consumer reads them all from the start into a handler that does nothing
// (catchup-noop) or upserts a read model row per order (catchup-upsert: a
// count and a sum, INSERT … ON CONFLICT DO UPDATE, in the consumer's
// transaction). Timed from the consumer's start until it handled the last
// event.

// catchupStreams is how many orders (streams) the preloaded events are
// spread over.
const catchupStreams = 10_000

// upsertSQL updates the read model (table rm in the fixture's schema,
// which is on the search path).
const upsertSQL = `INSERT INTO rm (id, n, total) VALUES ($1, 1, $2)
	ON CONFLICT (id) DO UPDATE SET n = rm.n + 1, total = rm.total + EXCLUDED.total`

// catchupEvent is event i's order (so the upsert key): order i mod 10,000.
func catchupData(i int64, size int) []byte { return orderJSON(i%catchupStreams, size) }

// CatchUp runs the catch-up scenario with a no-op (upsert false) or an
// upserting handler.
func CatchUp(ctx context.Context, env *Env, opts Options, upsert bool) ([]Result, error) {
	opts = opts.withDefaults()
	scenario := "catchup-noop"
	if upsert {
		scenario = "catchup-upsert"
	}
	f, err := newFixture(ctx, env, scenario, 20)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	n := int64(opts.CatchUpEvents)
	if err := preload(ctx, f, n, opts.DataSize); err != nil {
		return nil, err
	}
	if _, err := f.pool.Exec(ctx, `CREATE TABLE rm (id text PRIMARY KEY, n bigint NOT NULL, total bigint NOT NULL)`); err != nil {
		return nil, err
	}
	if err := f.vacuum(ctx); err != nil {
		return nil, err
	}
	var lastOffset int64
	if err := f.pool.QueryRow(ctx, `SELECT max("offset") FROM watermill_orders`).Scan(&lastOffset); err != nil {
		return nil, err
	}
	var attempt atomic.Int64
	prep := func(ctx context.Context, _ int) error {
		attempt.Add(1)
		_, err := f.pool.Exec(ctx, `TRUNCATE rm`)
		return err
	}
	// check, after each run (untimed), that the upserting handler saw
	// every event exactly once.
	check := func(int) error {
		if !upsert {
			return nil
		}
		var sum int64
		if err := f.pool.QueryRow(context.Background(), `SELECT coalesce(sum(n), 0) FROM rm`).Scan(&sum); err != nil {
			return err
		}
		if sum != n {
			return fmt.Errorf("peers: read model counts %d events, want %d", sum, n)
		}
		return nil
	}
	arms := []Arm{
		{Name: "causeway", Prep: prep, Post: check, Run: func(ctx context.Context, _ int) (int64, error) {
			return causewayCatchUp(ctx, f, n, upsert, "peers_rm_"+strconv.FormatInt(attempt.Load(), 10))
		}},
		{Name: "watermill-sql", Prep: prep, Post: check, Run: func(ctx context.Context, _ int) (int64, error) {
			return watermillCatchUp(ctx, f, n, upsert, "rm_"+strconv.FormatInt(attempt.Load(), 10), lastOffset)
		}},
		{Name: "plain-pgx", Prep: prep, Post: check, Run: func(ctx context.Context, _ int) (int64, error) {
			return plainCatchUp(ctx, f, n, upsert)
		}},
	}
	runs, err := alternate(ctx, env, scenario, opts.Reps, nil, arms...)
	if err != nil {
		return nil, err
	}
	handler := "a handler that does nothing"
	if upsert {
		handler = "a handler upserting one read-model row per order (count and sum) in the consumer's transaction"
	}
	shape := fmt.Sprintf("%d preloaded events over %d streams read from the start by a fresh consumer into %s", n, catchupStreams, handler)
	notes := []string{
		"Causeway: a projection (projection.New + On[OrderPlaced], typed decoding) run as a fresh subscription in a worker, defaults (8 partitions by stream, batches of 500, checkpoint in the handler's transaction)",
		"watermill-sql: a Subscriber with a fresh consumer group, DefaultPostgreSQLSchema (batches of 100 rows per transaction, one message at a time to the handler, offsets acked in that transaction; the upsert through TxFromContext), JSON decoded in the handler",
		"plain pgx: one goroutine, keyset scan on position in batches of 500, one transaction per batch for the upserts, JSON decoded per row (no-op: rows read, not decoded)",
	}
	var out []Result
	for i, a := range arms {
		out = append(out, summarize(scenario, a.Name, "events", runs[i], notes[i]+"; "+shape, false))
	}
	return withRatios(out), nil
}

// preload writes the same n events into the three arms' tables, in the
// same order: Causeway's in one Import (new streams, interleaved),
// watermill's and the plain table's in chunks.
func preload(ctx context.Context, f *fixture, n int64, size int) error {
	stream := func(i int64) string { return "order-" + strconv.FormatInt(i%catchupStreams, 10) }
	if _, err := f.store.Import(ctx, func(yield func(pgstore.ImportEvent) bool) {
		for i := range n {
			if !yield(pgstore.ImportEvent{StreamID: stream(i), EventData: eventlog.EventData{Type: OrderPlaced{}.EventType(), Data: catchupData(i, size)}}) {
				return
			}
		}
	}); err != nil {
		return fmt.Errorf("peers: preload causeway: %w", err)
	}
	const chunk = 1000
	for from := int64(0); from < n; from += chunk {
		to := min(from+chunk, n)
		var msgs []*message.Message
		var rows [][]any
		for i := from; i < to; i++ {
			data := catchupData(i, size)
			msgs = append(msgs, message.NewMessage(uuid.NewString(), data))
			rows = append(rows, []any{uuid.New(), stream(i), i/catchupStreams + 1, OrderPlaced{}.EventType(), data})
		}
		if err := f.pub.Publish(topic, msgs...); err != nil {
			return fmt.Errorf("peers: preload watermill: %w", err)
		}
		if _, err := f.pool.CopyFrom(ctx, pgx.Identifier{f.schema, "plain_events"}, []string{"event_id", "stream_id", "version", "type", "data"}, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("peers: preload plain: %w", err)
		}
	}
	return nil
}

func causewayCatchUp(ctx context.Context, f *fixture, n int64, upsert bool, name string) (int64, error) {
	p := projection.New(name, projection.On(func(ctx context.Context, tx pgx.Tx, e eventlog.Envelope[OrderPlaced]) error {
		if !upsert {
			return nil
		}
		_, err := tx.Exec(ctx, upsertSQL, e.Data.OrderID, e.Data.TotalCents)
		return err
	}))
	sub, err := p.Subscription()
	if err != nil {
		return 0, err
	}
	cps, err := checkpoint.NewPostgres(f.pool, f.schema)
	if err != nil {
		return 0, err
	}
	var (
		handled atomic.Int64
		done    sync.Once
	)
	finished := make(chan struct{})
	w, err := worker.New(worker.Config{Log: f.store, Checkpoints: cps, Logger: slog.New(slog.DiscardHandler),
		Hooks: worker.Hooks{Committed: func(_ string, _ int, _ eventlog.Position, k int) {
			// k is 0 for an idle partition's checkpoint mark: count
			// handled events, and finish once.
			if handled.Add(int64(k)) >= n {
				done.Do(func() { close(finished) })
			}
		}}}, sub)
	if err != nil {
		return 0, err
	}
	wctx, stop := context.WithCancel(ctx)
	ended := make(chan error, 1)
	go func() { ended <- w.Run(wctx) }()
	defer func() { stop(); <-ended }()
	select {
	case <-finished:
		return n, nil
	case err := <-ended:
		ended <- err
		return handled.Load(), fmt.Errorf("peers: causeway worker stopped: %v", err)
	case <-ctx.Done():
		return handled.Load(), ctx.Err()
	}
}

func watermillCatchUp(ctx context.Context, f *fixture, n int64, upsert bool, group string, last int64) (int64, error) {
	sub, err := wsql.NewSubscriber(wsql.BeginnerFromPgx(f.pool), wsql.SubscriberConfig{
		ConsumerGroup:    group,
		SchemaAdapter:    wsql.DefaultPostgreSQLSchema{},
		OffsetsAdapter:   wsql.DefaultPostgreSQLOffsetsAdapter{},
		InitializeSchema: true,
	}, watermill.NopLogger{})
	if err != nil {
		return 0, err
	}
	defer sub.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs, err := sub.Subscribe(sctx, topic)
	if err != nil {
		return 0, err
	}
	var got int64
	stall := time.NewTimer(stallTimeout)
	defer stall.Stop()
	for got < n {
		select {
		case m := <-msgs:
			var o OrderPlaced
			if err := json.Unmarshal(m.Payload, &o); err != nil {
				return got, err
			}
			if upsert {
				tx, ok := wsql.TxFromContext(m.Context())
				if !ok {
					return got, fmt.Errorf("peers: watermill message without its transaction")
				}
				if _, err := tx.ExecContext(m.Context(), upsertSQL, o.OrderID, o.TotalCents); err != nil {
					return got, err
				}
			}
			m.Ack()
			got++
			stall.Reset(stallTimeout)
		case <-stall.C:
			return got, fmt.Errorf("peers: watermill consumed %d of %d, none for %v", got, n, stallTimeout)
		case <-ctx.Done():
			return got, ctx.Err()
		}
	}
	// The subscriber commits a batch's transaction (the handler's writes
	// and the acked offset) after the last ack of the batch: the run ends
	// when the last offset is committed.
	for {
		var acked int64
		err := f.pool.QueryRow(ctx, `SELECT coalesce(offset_acked, 0) FROM watermill_offsets_orders WHERE consumer_group = $1`, group).Scan(&acked)
		if err != nil {
			return got, err
		}
		if acked == last {
			return got, nil
		}
		select {
		case <-ctx.Done():
			return got, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

func plainCatchUp(ctx context.Context, f *fixture, n int64, upsert bool) (int64, error) {
	const batch = 500
	q := `SELECT position, data FROM ` + f.plain + ` WHERE position > $1 ORDER BY position LIMIT $2`
	var after, got int64
	for got < n {
		var k int
		var err error
		if upsert {
			err = pgx.BeginFunc(ctx, f.pool, func(tx pgx.Tx) error {
				rows, err := tx.Query(ctx, q, after, batch)
				if err != nil {
					return err
				}
				type row struct {
					pos  int64
					data []byte
				}
				rs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
					var x row
					return x, r.Scan(&x.pos, &x.data)
				})
				if err != nil {
					return err
				}
				for _, r := range rs {
					var o OrderPlaced
					if err := json.Unmarshal(r.data, &o); err != nil {
						return err
					}
					if _, err := tx.Exec(ctx, upsertSQL, o.OrderID, o.TotalCents); err != nil {
						return err
					}
					after = r.pos
				}
				k = len(rs)
				return nil
			})
		} else {
			var rows pgx.Rows
			rows, err = f.pool.Query(ctx, q, after, batch)
			if err == nil {
				var data []byte
				_, err = pgx.ForEachRow(rows, []any{&after, &data}, func() error { k++; return nil })
			}
		}
		if err != nil {
			return got, err
		}
		if k == 0 {
			return got, fmt.Errorf("peers: plain scan found %d of %d rows", got, n)
		}
		got += int64(k)
	}
	return got, nil
}
