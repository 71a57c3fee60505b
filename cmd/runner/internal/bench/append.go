package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/eventlog"
)

// AppendWorkload is the append scenario's load: single-event appends from
// Concurrency goroutines to Streams streams. The streams are partitioned
// among the goroutines (goroutine g owns streams g, g+C, g+2C, …) and each
// append picks one of its goroutine's streams at random, so no two appends
// contend for a stream and both sides can track versions locally: ours
// appends with the exact expected version, plain-pgx inserts version+1.
type AppendWorkload struct {
	fx       *Fixture
	conc     int
	streams  []string
	ring     payloadRing
	ours     []int64 // current version per stream, store side
	plain    []int64 // current version per stream, baseline side
	seq      int64
	plainSQL string
}

// NewAppendWorkload prepares the append load on a fixture (Concurrency,
// Streams and DataSize from opts, defaults as for the append scenario).
func NewAppendWorkload(fx *Fixture, opts Options) *AppendWorkload {
	opts = opts.withDefaults(ScenarioAppend)
	streams := max(opts.Streams, opts.Concurrency)
	w := &AppendWorkload{
		fx:      fx,
		conc:    opts.Concurrency,
		streams: make([]string, streams),
		ring:    newPayloadRing(1024, opts.DataSize),
		ours:    make([]int64, streams),
		plain:   make([]int64, streams),
		plainSQL: `INSERT INTO ` + fx.Plain + ` (event_id, stream_id, version, type, data, metadata)
			VALUES ($1, $2, $3, $4, $5, $6)`,
	}
	for i := range w.streams {
		w.streams[i] = "order-" + strconv.Itoa(i)
	}
	return w
}

// pick returns a random stream of goroutine g's partition.
func (w *AppendWorkload) pick(rng *rand.Rand, g int) int {
	per := len(w.streams) / w.conc
	return g + w.conc*rng.IntN(per)
}

func (w *AppendWorkload) run(ctx context.Context, n int, op func(ctx context.Context, stream int, p *payload) error) error {
	rngs := make([]*rand.Rand, w.conc)
	for g := range rngs {
		rngs[g] = rand.New(rand.NewPCG(uint64(w.seq), uint64(g)))
	}
	base := w.seq
	w.seq += int64(n)
	return parallel(ctx, w.conc, n, func(ctx context.Context, g int, i int64) error {
		return op(ctx, w.pick(rngs[g], g), w.ring.at(base+i))
	})
}

// Ours appends n events with Store.Append, each in its own transaction.
func (w *AppendWorkload) Ours(ctx context.Context, n int) error {
	return w.run(ctx, n, func(ctx context.Context, k int, p *payload) error {
		res, err := w.fx.Store.Append(ctx, w.streams[k], eventlog.Exactly(w.ours[k]), p.data)
		if err != nil {
			return err
		}
		w.ours[k] = res.NextExpectedVersion
		return nil
	})
}

// Plain inserts n rows with single-row INSERTs in autocommit mode.
func (w *AppendWorkload) Plain(ctx context.Context, n int) error {
	return w.run(ctx, n, func(ctx context.Context, k int, p *payload) error {
		v := w.plain[k] + 1
		if _, err := w.fx.Pool.Exec(ctx, w.plainSQL, [16]byte(uuid.New()), w.streams[k], v, EventType, p.data.Data, p.metaJSON); err != nil {
			return err
		}
		w.plain[k] = v
		return nil
	})
}

// Append measures single-event appends (Store.Append, one event, its own
// transaction) from Concurrency goroutines against single-row autocommit
// INSERTs into the baseline table from as many goroutines.
func Append(ctx context.Context, env *Env, opts Options) (Result, error) {
	opts = opts.withDefaults(ScenarioAppend)
	fx, err := env.NewFixture(ctx, ScenarioAppend, FixtureOptions{MaxConns: int32(opts.Concurrency + 4), Store: appendStoreConfig(opts)})
	if err != nil {
		return Result{}, err
	}
	defer fx.Close()
	w := NewAppendWorkload(fx, opts)
	if opts.Warmup > 0 {
		if err := w.Ours(ctx, opts.Warmup); err != nil {
			return Result{}, fmt.Errorf("bench: append warm-up: %w", err)
		}
		if err := w.Plain(ctx, opts.Warmup); err != nil {
			return Result{}, fmt.Errorf("bench: append warm-up: %w", err)
		}
	}
	runs, err := alternate(ctx, env, ScenarioAppend, opts.Repetitions,
		side{name: "ours", run: func(ctx context.Context, _ int) (int64, error) { return int64(opts.Events), w.Ours(ctx, opts.Events) }},
		side{name: "plain-pgx", run: func(ctx context.Context, _ int) (int64, error) { return int64(opts.Events), w.Plain(ctx, opts.Events) }})
	if err != nil {
		return Result{}, err
	}
	shape := fmt.Sprintf("%d goroutines, %d streams partitioned among them, %d-byte data", opts.Concurrency, len(w.streams), len(w.ring[0].data.Data))
	ours := summarize(ScenarioAppend, runs[0], "Store.Append of 1 event with the exact expected version"+notifyNote(opts)+groupNote(opts)+"; "+shape)
	base := summarize(ScenarioAppend+"/plain-pgx", runs[1], "single-row INSERT, autocommit, into plain_events (identity PK, UNIQUE event_id, UNIQUE (stream_id, version)); "+shape)
	return withBaseline(ours, base, 1.0), nil
}
