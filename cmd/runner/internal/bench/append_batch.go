package bench

import (
	"context"
	"fmt"
	"strconv"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/eventlog/postgres"
)

// Plain-pgx ways of writing one batch of rows in one commit.
const (
	PlainUnnest = "unnest" // one INSERT … SELECT FROM unnest(arrays)
	PlainBatch  = "batch"  // pgx.Batch of single-row INSERTs (one implicit transaction)
	PlainCopy   = "copy"   // CopyFrom of the rows
)

// PlainBatchMethods lists the baseline methods the append-batch scenario
// races; the fastest is the ceiling.
var PlainBatchMethods = []string{PlainUnnest, PlainBatch, PlainCopy}

// BatchWorkload is the append-batch scenario's load: appends of BatchSize
// events, each to a new stream, from Concurrency goroutines.
type BatchWorkload struct {
	fx     *Fixture
	conc   int
	size   int
	ring   payloadRing
	stream int64 // streams used so far (each append takes a new one)

	unnestSQL, insertSQL string
	events               []eventlog.EventData // one append's events, shared read-only
}

// NewBatchWorkload prepares the append-batch load on a fixture.
func NewBatchWorkload(fx *Fixture, opts Options) *BatchWorkload {
	opts = opts.withDefaults(ScenarioAppendBatch)
	w := &BatchWorkload{
		fx:   fx,
		conc: opts.Concurrency,
		size: opts.BatchSize,
		ring: newPayloadRing(opts.BatchSize, opts.DataSize),
		unnestSQL: `INSERT INTO ` + fx.Plain + ` (event_id, stream_id, version, type, data, metadata)
			SELECT u.id, $1, u.ord, u.typ, u.dat, u.met
			  FROM unnest($2::uuid[], $3::text[], $4::jsonb[], $5::jsonb[]) WITH ORDINALITY AS u(id, typ, dat, met, ord)`,
		insertSQL: `INSERT INTO ` + fx.Plain + ` (event_id, stream_id, version, type, data, metadata)
			VALUES ($1, $2, $3, $4, $5, $6)`,
	}
	w.events = make([]eventlog.EventData, w.size)
	for i := range w.events {
		w.events[i] = w.ring[i].data
	}
	return w
}

// Size is the number of events per append.
func (w *BatchWorkload) Size() int { return w.size }

func (w *BatchWorkload) run(ctx context.Context, appends int, op func(ctx context.Context, stream string) error) error {
	base := w.stream
	w.stream += int64(appends)
	return parallel(ctx, w.conc, appends, func(ctx context.Context, _ int, i int64) error {
		return op(ctx, "batch-"+strconv.FormatInt(base+i, 10))
	})
}

// Ours performs appends Store.Appends of Size events each.
func (w *BatchWorkload) Ours(ctx context.Context, appends int) error {
	return w.run(ctx, appends, func(ctx context.Context, stream string) error {
		_, err := w.fx.Store.Append(ctx, stream, eventlog.NoStream, w.events...)
		return err
	})
}

// Plain writes appends batches of Size rows with the given method, one
// commit per batch.
func (w *BatchWorkload) Plain(ctx context.Context, method string, appends int) error {
	var op func(ctx context.Context, stream string) error
	switch method {
	case PlainUnnest:
		op = func(ctx context.Context, stream string) error {
			ids := make([][16]byte, w.size)
			types := make([]string, w.size)
			data := make([][]byte, w.size)
			meta := make([][]byte, w.size)
			for i := range w.size {
				ids[i], types[i], data[i], meta[i] = uuid.New(), EventType, w.ring[i].data.Data, w.ring[i].metaJSON
			}
			_, err := w.fx.Pool.Exec(ctx, w.unnestSQL, stream, ids, types, data, meta)
			return err
		}
	case PlainBatch:
		op = func(ctx context.Context, stream string) error {
			b := &pgx.Batch{}
			for i := range w.size {
				b.Queue(w.insertSQL, [16]byte(uuid.New()), stream, int64(i+1), EventType, w.ring[i].data.Data, w.ring[i].metaJSON)
			}
			return w.fx.Pool.SendBatch(ctx, b).Close()
		}
	case PlainCopy:
		op = func(ctx context.Context, stream string) error {
			rows := make([][]any, w.size)
			for i := range w.size {
				rows[i] = []any{[16]byte(uuid.New()), stream, int64(i + 1), EventType, w.ring[i].data.Data, w.ring[i].metaJSON}
			}
			_, err := w.fx.Pool.CopyFrom(ctx, plainIdent(w.fx), plainColumns, pgx.CopyFromRows(rows))
			return err
		}
	default:
		return fmt.Errorf("bench: unknown plain batch method %q", method)
	}
	return w.run(ctx, appends, op)
}

var plainColumns = []string{"event_id", "stream_id", "version", "type", "data", "metadata"}

func plainIdent(fx *Fixture) pgx.Identifier { return pgx.Identifier{fx.Schema, "plain_events"} }

// AppendBatch measures appends of BatchSize events to one (new) stream each
// against the fastest plain-pgx way of writing the same rows in one commit.
func AppendBatch(ctx context.Context, env *Env, opts Options) (Result, error) {
	opts = opts.withDefaults(ScenarioAppendBatch)
	fx, err := env.NewFixture(ctx, ScenarioAppendBatch, FixtureOptions{MaxConns: int32(opts.Concurrency + 4), Store: postgres.Config{DisableNotify: opts.DisableNotify}})
	if err != nil {
		return Result{}, err
	}
	defer fx.Close()
	w := NewBatchWorkload(fx, opts)
	appends := max(opts.Events/w.size, 1)
	if warm := opts.Warmup / w.size; warm > 0 {
		if err := w.Ours(ctx, warm); err != nil {
			return Result{}, fmt.Errorf("bench: append-batch warm-up: %w", err)
		}
		for _, m := range PlainBatchMethods {
			if err := w.Plain(ctx, m, warm); err != nil {
				return Result{}, fmt.Errorf("bench: append-batch warm-up (%s): %w", m, err)
			}
		}
	}
	events := int64(appends * w.size)
	sides := []side{{name: "ours", run: func(ctx context.Context, _ int) (int64, error) { return events, w.Ours(ctx, appends) }}}
	for _, m := range PlainBatchMethods {
		sides = append(sides, side{name: "plain-pgx " + m, run: func(ctx context.Context, _ int) (int64, error) { return events, w.Plain(ctx, m, appends) }})
	}
	runs, err := alternate(ctx, env, ScenarioAppendBatch, opts.Repetitions, sides...)
	if err != nil {
		return Result{}, err
	}
	shape := fmt.Sprintf("%d goroutines, %d events per append, each append to a new stream, %d-byte data", opts.Concurrency, w.size, len(w.ring[0].data.Data))
	ours := summarize(ScenarioAppendBatch, runs[0], "Store.Append of "+strconv.Itoa(w.size)+" events, expected no-stream"+notifyNote(opts)+"; "+shape)
	var (
		best   Result
		others []string
	)
	for i, m := range PlainBatchMethods {
		r := summarize(ScenarioAppendBatch+"/plain-pgx", runs[i+1], "")
		others = append(others, fmt.Sprintf("%s %.0f ev/s", m, r.EventsPerS))
		if r.EventsPerS > best.EventsPerS {
			best = r
			best.Notes = "fastest plain method: " + m + " (" + plainMethodDoc[m] + "); " + r.Notes
		}
	}
	best.Notes += "; all plain methods (medians): " + fmt.Sprint(others) + "; " + shape
	return withBaseline(ours, best, 0.60), nil
}

var plainMethodDoc = map[string]string{
	PlainUnnest: "one INSERT ... SELECT FROM unnest($ids, $types, $data, $meta) WITH ORDINALITY, autocommit",
	PlainBatch:  "pgx.Batch of single-row INSERTs, one implicit transaction",
	PlainCopy:   "CopyFrom of the rows, autocommit",
}
