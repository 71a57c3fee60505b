package bench

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/eventlog/postgres"
)

// preloadChunk is the number of events per Import while preloading.
const preloadChunk = 100_000

// CatchUpWorkload is the catchup scenario's load: reading a preloaded log
// from the start in batches.
type CatchUpWorkload struct {
	fx       *Fixture
	batch    int
	dataSize int
	loaded   int64
	plainSQL string
}

// NewCatchUpWorkload prepares the catchup load on a fixture (BatchSize and
// DataSize from opts).
func NewCatchUpWorkload(fx *Fixture, opts Options) *CatchUpWorkload {
	opts = opts.withDefaults(ScenarioCatchUp)
	return &CatchUpWorkload{
		fx:       fx,
		batch:    opts.BatchSize,
		dataSize: opts.DataSize,
		plainSQL: plainKeysetSQL(fx),
	}
}

// plainKeysetSQL is the plain keyset scan of a fixture's event table in
// global order: $1, $2 the position after which to read, $3 the limit.
func plainKeysetSQL(fx *Fixture) string {
	return `SELECT tx_id, position, event_id, stream_id, version, type, data, metadata, recorded_at
		FROM ` + fx.Events + `
		WHERE (tx_id, position) > ($1::xid8, $2::bigint)
		ORDER BY tx_id, position
		LIMIT $3`
}

// Loaded is the number of events preloaded.
func (w *CatchUpWorkload) Loaded() int64 { return w.loaded }

// Preload appends n events to the log with Store.Import, in chunks of
// 100,000 (streams of ImportStreamLength events), then vacuums and analyzes
// the table so that neither reader pays for setting hint bits.
func (w *CatchUpWorkload) Preload(ctx context.Context, n int) error {
	ring := newPayloadRing(1024, w.dataSize)
	for done := 0; done < n; {
		chunk := min(preloadChunk, n-done)
		start := done
		events := func(yield func(postgres.ImportEvent) bool) {
			for i := range chunk {
				k := start + i
				ev := postgres.ImportEvent{
					StreamID:  fmt.Sprintf("order-%d", k/ImportStreamLength),
					EventData: ring.at(int64(k)).data,
				}
				if !yield(ev) {
					return
				}
			}
		}
		if _, err := w.fx.Store.Import(ctx, iter.Seq[postgres.ImportEvent](events)); err != nil {
			return fmt.Errorf("bench: preload: %w", err)
		}
		done += chunk
		w.loaded += int64(chunk)
	}
	return w.fx.vacuum(ctx)
}

// Ours reads n events with Store.ReadBatch from the start of the log,
// starting over at the start when it reaches the head before n.
func (w *CatchUpWorkload) Ours(ctx context.Context, n int) (int64, error) {
	var (
		read  int64
		after = eventlog.Start
	)
	for read < int64(n) {
		b, err := w.fx.Store.ReadBatch(ctx, after, eventlog.Filter{}, min(w.batch, n-int(read)))
		if err != nil {
			return read, err
		}
		read += int64(len(b.Events))
		after = b.Next
		if b.CaughtUp {
			if w.loaded == 0 {
				return read, fmt.Errorf("bench: catchup: nothing preloaded")
			}
			after = eventlog.Start
		}
	}
	return read, nil
}

// plainRow is what the plain reader scans a row into.
type plainRow struct {
	txID, position uint64
	id             [16]byte
	stream         string
	version        int64
	typ            string
	data, meta     []byte
	recorded       time.Time
}

// Plain reads n events with a plain keyset scan of the store's table on
// (tx_id, position) — no visibility horizon, no metadata decoding —
// scanning the same columns into []byte, string and time.Time.
func (w *CatchUpWorkload) Plain(ctx context.Context, n int) (int64, error) {
	var (
		read         int64
		afterTx      uint64
		afterPos     uint64
		startedAgain bool
	)
	for read < int64(n) {
		limit := min(w.batch, n-int(read))
		rows, err := w.fx.Pool.Query(ctx, w.plainSQL, afterTx, afterPos, limit)
		if err != nil {
			return read, err
		}
		batch := make([]plainRow, 0, limit)
		for rows.Next() {
			var r plainRow
			if err := rows.Scan(&r.txID, &r.position, &r.id, &r.stream, &r.version, &r.typ, &r.data, &r.meta, &r.recorded); err != nil {
				rows.Close()
				return read, err
			}
			batch = append(batch, r)
		}
		if err := rows.Err(); err != nil {
			return read, err
		}
		read += int64(len(batch))
		if len(batch) > 0 {
			last := batch[len(batch)-1]
			afterTx, afterPos, startedAgain = last.txID, last.position, false
		}
		if len(batch) < limit {
			if startedAgain {
				return read, fmt.Errorf("bench: catchup: nothing preloaded")
			}
			afterTx, afterPos, startedAgain = 0, 0, true
		}
	}
	return read, nil
}

// CatchUp measures reading a preloaded log of Events events from the start
// with Store.ReadBatch against a plain keyset scan of the same table.
func CatchUp(ctx context.Context, env *Env, opts Options) (Result, error) {
	opts = opts.withDefaults(ScenarioCatchUp)
	fx, err := env.NewFixture(ctx, ScenarioCatchUp, FixtureOptions{MaxConns: 4})
	if err != nil {
		return Result{}, err
	}
	defer fx.Close()
	w := NewCatchUpWorkload(fx, opts)
	begin := time.Now()
	if err := w.Preload(ctx, opts.Events); err != nil {
		return Result{}, err
	}
	env.Logger.Info("bench: catchup preloaded", "events", opts.Events, "elapsed", time.Since(begin).Round(time.Millisecond))
	// Warm-up: one plain pass brings the table and index into memory for
	// both readers (they read the same table).
	if opts.Warmup >= 0 {
		if _, err := w.Plain(ctx, opts.Events); err != nil {
			return Result{}, fmt.Errorf("bench: catchup warm-up: %w", err)
		}
	}
	runs, err := alternate(ctx, env, ScenarioCatchUp, opts.Repetitions,
		side{name: "ours", run: func(ctx context.Context, _ int) (int64, error) { return w.Ours(ctx, opts.Events) }},
		side{name: "plain-pgx", run: func(ctx context.Context, _ int) (int64, error) { return w.Plain(ctx, opts.Events) }})
	if err != nil {
		return Result{}, err
	}
	shape := fmt.Sprintf("%d preloaded events (%d-byte data), batches of %d", opts.Events, opts.DataSize, w.batch)
	o := summarize(ScenarioCatchUp, runs[0], "Store.ReadBatch from Start until the head; "+shape)
	b := summarize(ScenarioCatchUp+"/plain-pgx", runs[1], "keyset scan WHERE (tx_id, position) > ($1,$2) ORDER BY tx_id, position LIMIT n on the store's table, no horizon; "+shape)
	return withBaseline(o, b, 0.50), nil
}
