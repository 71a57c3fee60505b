package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/causewayhq/causeway/eventlog"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/worker"
)

// orderTotal is what the upsert read models take from an event's data.
type orderTotal struct {
	TotalCents int64 `json:"total_cents"`
}

func (orderTotal) EventType() string { return EventType }

// ReadModelDDL creates an upsert read model: per stream, the number of
// events and the sum of their total_cents.
const ReadModelDDL = `CREATE TABLE IF NOT EXISTS %s (
    stream_id text PRIMARY KEY,
    events    bigint NOT NULL,
    total     bigint NOT NULL
)`

// upsertSQL folds one event into a read model table.
func upsertSQL(table string) string {
	return `INSERT INTO ` + table + ` AS t (stream_id, events, total) VALUES ($1, 1, $2)
		ON CONFLICT (stream_id) DO UPDATE SET events = t.events + 1, total = t.total + excluded.total`
}

// plainUpserter is the plain-pgx ceiling of a subscription that upserts a
// read model: one goroutine reads the log with the keyset scan in batches
// of the worker's ReadBatchSize and hands each row to one of `partitions`
// goroutines (by worker.PartitionOf of the stream id, as the worker does);
// each of those takes a chunk, gathers whatever else is waiting up to
// BatchSize events (the worker's rule), decodes each event's data and
// upserts it with its own statement, all in one transaction per batch. No
// checkpoint, no leases, no horizon.
type plainUpserter struct {
	pool       *pgxpool.Pool
	scanSQL    string
	upsert     string
	partitions int
	batch      int
	readBatch  int
	// commits counts the plain side's transactions of the last run.
	commits atomic.Int64
}

func newPlainUpserter(fx *Fixture, table string, partitions, batch, readBatch int) *plainUpserter {
	return &plainUpserter{
		pool:       fx.Pool,
		scanSQL:    plainKeysetSQL(fx),
		upsert:     upsertSQL(table),
		partitions: partitions,
		batch:      batch,
		readBatch:  readBatch,
	}
}

// run reads the whole log and upserts every event; it returns the events
// upserted.
func (p *plainUpserter) run(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p.commits.Store(0)
	chans := make([]chan []plainRow, p.partitions)
	var (
		wg       sync.WaitGroup
		done     atomic.Int64
		errOnce  sync.Once
		firstErr error
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	for i := range chans {
		chans[i] = make(chan []plainRow, worker.DefaultPartitionBuffer)
		in := chans[i]
		wg.Go(func() {
			for rows := range in {
			gather:
				for len(rows) < p.batch {
					select {
					case more, ok := <-in:
						if !ok {
							break gather
						}
						rows = append(rows, more...)
					default:
						break gather
					}
				}
				if ctx.Err() != nil {
					continue // drain
				}
				if err := p.upsertBatch(ctx, rows); err != nil {
					fail(err)
					continue
				}
				done.Add(int64(len(rows)))
			}
		})
	}
	readErr := p.read(ctx, chans)
	for _, c := range chans {
		close(c)
	}
	wg.Wait()
	if readErr != nil && firstErr == nil {
		firstErr = readErr
	}
	return done.Load(), firstErr
}

// read scans the log and dispatches rows to the partition goroutines.
func (p *plainUpserter) read(ctx context.Context, chans []chan []plainRow) error {
	var afterTx, afterPos uint64
	for {
		rows, err := p.pool.Query(ctx, p.scanSQL, afterTx, afterPos, p.readBatch)
		if err != nil {
			return err
		}
		out := make([][]plainRow, len(chans))
		n := 0
		for rows.Next() {
			var r plainRow
			if err := rows.Scan(&r.txID, &r.position, &r.id, &r.stream, &r.version, &r.typ, &r.data, &r.meta, &r.recorded); err != nil {
				rows.Close()
				return err
			}
			afterTx, afterPos = r.txID, r.position
			k := worker.PartitionOf(r.stream, len(chans))
			out[k] = append(out[k], r)
			n++
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for k, part := range out {
			if len(part) == 0 {
				continue
			}
			select {
			case chans[k] <- part:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if n < p.readBatch {
			return nil
		}
	}
}

// upsertBatch decodes and upserts rows in one transaction, one statement
// per row (as a handler writing through Delivery.Tx does).
func (p *plainUpserter) upsertBatch(ctx context.Context, rows []plainRow) error {
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		for i := range rows {
			var v orderTotal
			if err := json.Unmarshal(rows[i].data, &v); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, p.upsert, rows[i].stream, v.TotalCents); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		p.commits.Add(1)
	}
	return err
}

// WorkerUpsertWorkload is the worker-upsert scenario's load: a worker
// subscription whose handler upserts each event into a read model through
// Delivery.Tx, catching up with a preloaded log, against plainUpserter
// doing the same into a table of its own.
type WorkerUpsertWorkload struct {
	wf         *workerFixture
	env        *Env
	partitions int
	batch      int
	ours       string // read model tables, quoted
	plain      *plainUpserter
	plainTable string
	seq        atomic.Int64
	// LastPlainEventsPerCommit is the mean events per transaction of the
	// last Plain run.
	LastPlainEventsPerCommit float64
}

// NewWorkerUpsertWorkload preloads a fresh fixture with opts.Events events
// and creates the two read model tables. Close drops it.
func NewWorkerUpsertWorkload(ctx context.Context, env *Env, opts Options) (*WorkerUpsertWorkload, error) {
	opts = opts.withDefaults(ScenarioWorkerUpsert)
	wf, err := newWorkerFixture(ctx, env, ScenarioWorkerUpsert, opts.Events, opts)
	if err != nil {
		return nil, err
	}
	w := &WorkerUpsertWorkload{
		wf: wf, env: env, partitions: opts.Partitions, batch: opts.BatchSize,
		ours:       pgx.Identifier{wf.fx.Schema, "rm_ours"}.Sanitize(),
		plainTable: pgx.Identifier{wf.fx.Schema, "rm_plain"}.Sanitize(),
	}
	for _, t := range []string{w.ours, w.plainTable} {
		if _, err := wf.fx.Pool.Exec(ctx, fmt.Sprintf(ReadModelDDL, t)); err != nil {
			wf.close()
			return nil, fmt.Errorf("bench: create read model: %w", err)
		}
	}
	w.plain = newPlainUpserter(wf.fx, w.plainTable, opts.Partitions, opts.BatchSize, opts.ReadBatchSize)
	return w, nil
}

// Close drops the fixture.
func (w *WorkerUpsertWorkload) Close() { w.wf.close() }

// Loaded is the number of preloaded events.
func (w *WorkerUpsertWorkload) Loaded() int64 { return w.wf.load.Loaded() }

// Reset empties both read models (between repetitions, untimed).
func (w *WorkerUpsertWorkload) Reset(ctx context.Context) error {
	_, err := w.wf.fx.Pool.Exec(ctx, "TRUNCATE "+w.ours+", "+w.plainTable)
	return err
}

// Start runs a new subscription (fresh name) whose handler upserts into
// the read model, until every partition's checkpoint reached the head, and
// returns the running worker (see WorkerCatchUpWorkload.Start).
func (w *WorkerUpsertWorkload) Start(ctx context.Context) (*CatchUpRun, error) {
	upsert := upsertSQL(w.ours)
	sub := worker.NewSubscription("bench-upsert-"+strconv.FormatInt(w.seq.Add(1), 10),
		worker.Partitions(w.partitions),
		worker.Mode(worker.Transactional),
		worker.BatchSize(w.batch),
		// Unfiltered, like the loops it is compared with (every event is
		// an EventType event).
		worker.Filter(eventlog.Filter{}),
		worker.On(func(ctx context.Context, d *worker.Delivery, ev eventlog.Envelope[orderTotal]) error {
			_, err := d.Tx.Exec(ctx, upsert, d.Event.StreamID, ev.Data.TotalCents)
			return err
		}),
	)
	return w.wf.catchUp(ctx, w.env, sub)
}

// Ours runs Start and stops the worker; it returns the events committed.
func (w *WorkerUpsertWorkload) Ours(ctx context.Context) (int64, error) {
	r, err := w.Start(ctx)
	if err != nil {
		return 0, err
	}
	r.Stop()
	return r.Events, nil
}

// Plain reads the log and upserts every event with plain pgx.
func (w *WorkerUpsertWorkload) Plain(ctx context.Context) (int64, error) {
	n, err := w.plain.run(ctx)
	if c := w.plain.commits.Load(); c > 0 {
		w.LastPlainEventsPerCommit = float64(n) / float64(c)
	}
	return n, err
}

// Check verifies that both read models hold every event once (after a
// repetition of each side).
func (w *WorkerUpsertWorkload) Check(ctx context.Context) error {
	return checkReadModels(ctx, w.wf.fx, w.Loaded(), w.ours, w.plainTable)
}

// WorkerUpsert measures a worker subscription that upserts every event into
// a read model (INSERT … ON CONFLICT DO UPDATE through Delivery.Tx) while
// catching up with a preloaded log at Options.Partitions partitions,
// against plain pgx reading the same rows with the keyset scan and
// upserting them in transactions gathered the same way (plainUpserter).
func WorkerUpsert(ctx context.Context, env *Env, opts Options) (Result, error) {
	opts = opts.withDefaults(ScenarioWorkerUpsert)
	w, err := NewWorkerUpsertWorkload(ctx, env, opts)
	if err != nil {
		return Result{}, err
	}
	defer w.Close()
	if opts.Warmup >= 0 {
		// Both sides once, which also checks that both fold every event.
		if err := warmBoth(ctx, ScenarioWorkerUpsert, w.Ours, w.Plain, w.Check); err != nil {
			return Result{}, err
		}
	}
	var (
		herTx         []string
		resetErr      error
		resetBeforeIt = func(int) { resetErr = w.Reset(ctx) }
		ours          = &workerSide{start: func(ctx context.Context) (*CatchUpRun, error) {
			if resetErr != nil {
				return nil, resetErr
			}
			return w.Start(ctx)
		}}
	)
	oursSide := ours.side()
	oursSide.prep = resetBeforeIt
	runs, err := alternate(ctx, env, ScenarioWorkerUpsert, opts.Repetitions,
		oursSide,
		side{
			name: "plain-pgx",
			prep: resetBeforeIt,
			run: func(ctx context.Context, _ int) (int64, error) {
				if resetErr != nil {
					return 0, resetErr
				}
				return w.Plain(ctx)
			},
			post: func(int) error {
				herTx = append(herTx, fmt.Sprintf("%.0f", w.LastPlainEventsPerCommit))
				return nil
			},
		})
	if err != nil {
		return Result{}, err
	}
	shape := fmt.Sprintf("%d preloaded events (%d-byte data) in streams of %d; %d partitions, BatchSize %d, reads of %d; read model keyed by stream (events, total)",
		w.Loaded(), opts.DataSize, ImportStreamLength, opts.Partitions, opts.BatchSize, opts.ReadBatchSize)
	o := summarize(ScenarioWorkerUpsert, runs[0], fmt.Sprintf(
		"worker subscription, Transactional with checkpoint.NewPostgres, handler worker.On + INSERT … ON CONFLICT DO UPDATE through Delivery.Tx; "+
			"timed from worker start until every partition's checkpoint reached the head; events per transaction by attempt: %v; "+
			"ms from the last event's commit until the last partition's checkpoint reached the head by attempt: %v; %s", ours.perTx, ours.tails, shape))
	b := summarize(ScenarioWorkerUpsert+"/plain-pgx", runs[1], fmt.Sprintf(
		"one reader (keyset scan) feeding %d goroutines by PartitionOf(stream); each gathers up to BatchSize events, json.Unmarshal + the same upsert per row, one transaction per batch, no checkpoint; events per transaction by attempt: %v; %s",
		opts.Partitions, herTx, shape))
	return withBaseline(o, b, 0.80), nil
}
