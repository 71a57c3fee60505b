package bench

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/eventlog/postgres"
)

// ImportStreamLength is the number of events per stream in imports.
const ImportStreamLength = 10

// ImportWorkload is the import scenario's load: new streams of
// ImportStreamLength events each, generated before the clock starts.
type ImportWorkload struct {
	fx    *Fixture
	ring  payloadRing
	batch int64 // imports prepared so far; names each import's streams
}

// NewImportWorkload prepares the import load on a fixture.
func NewImportWorkload(fx *Fixture, opts Options) *ImportWorkload {
	opts = opts.withDefaults(ScenarioImport)
	return &ImportWorkload{fx: fx, ring: newPayloadRing(1024, opts.DataSize)}
}

// PrepareOurs generates n events in fresh streams for Store.Import.
func (w *ImportWorkload) PrepareOurs(n int) []postgres.ImportEvent {
	w.batch++
	out := make([]postgres.ImportEvent, n)
	prefix := "import-" + strconv.FormatInt(w.batch, 10) + "."
	for i := range out {
		out[i] = postgres.ImportEvent{
			StreamID:  prefix + strconv.Itoa(i/ImportStreamLength),
			EventData: w.ring.at(int64(i)).data,
		}
	}
	return out
}

// PreparePlain generates n rows in fresh streams for CopyFrom into the
// baseline table.
func (w *ImportWorkload) PreparePlain(n int) [][]any {
	w.batch++
	out := make([][]any, n)
	prefix := "import-" + strconv.FormatInt(w.batch, 10) + "."
	for i := range out {
		p := w.ring.at(int64(i))
		out[i] = []any{[16]byte(uuid.New()), prefix + strconv.Itoa(i/ImportStreamLength), int64(i%ImportStreamLength + 1), EventType, p.data.Data, p.metaJSON}
	}
	return out
}

// Ours imports events with Store.Import (COPY in one transaction).
func (w *ImportWorkload) Ours(ctx context.Context, events []postgres.ImportEvent) error {
	res, err := w.fx.Store.Import(ctx, slices.Values(events))
	if err == nil && res.Events != int64(len(events)) {
		err = fmt.Errorf("imported %d of %d events", res.Events, len(events))
	}
	return err
}

// Plain copies rows into the baseline table with pgx CopyFrom (autocommit).
func (w *ImportWorkload) Plain(ctx context.Context, rows [][]any) error {
	n, err := w.fx.Pool.CopyFrom(ctx, plainIdent(w.fx), plainColumns, pgx.CopyFromRows(rows))
	if err == nil && n != int64(len(rows)) {
		err = fmt.Errorf("copied %d of %d rows", n, len(rows))
	}
	return err
}

// Import measures Store.Import against pgx CopyFrom of the same rows into
// the baseline table. Both get their input pre-generated; ours validates
// and encodes metadata inside the measurement, as it must.
func Import(ctx context.Context, env *Env, opts Options) (Result, error) {
	opts = opts.withDefaults(ScenarioImport)
	fx, err := env.NewFixture(ctx, ScenarioImport, FixtureOptions{MaxConns: 4, Store: postgres.Config{DisableNotify: opts.DisableNotify}})
	if err != nil {
		return Result{}, err
	}
	defer fx.Close()
	w := NewImportWorkload(fx, opts)
	if opts.Warmup > 0 {
		if err := w.Ours(ctx, w.PrepareOurs(opts.Warmup)); err != nil {
			return Result{}, fmt.Errorf("bench: import warm-up: %w", err)
		}
		if err := w.Plain(ctx, w.PreparePlain(opts.Warmup)); err != nil {
			return Result{}, fmt.Errorf("bench: import warm-up: %w", err)
		}
	}
	// Each attempt's input is generated before the clock starts.
	var (
		ours  []postgres.ImportEvent
		plain [][]any
	)
	runs, err := alternate(ctx, env, ScenarioImport, opts.Repetitions,
		side{
			name: "ours",
			prep: func(int) { ours = w.PrepareOurs(opts.Events) },
			run: func(ctx context.Context, _ int) (int64, error) {
				defer func() { ours = nil }()
				return int64(opts.Events), w.Ours(ctx, ours)
			},
		},
		side{
			name: "plain-pgx",
			prep: func(int) { plain = w.PreparePlain(opts.Events) },
			run: func(ctx context.Context, _ int) (int64, error) {
				defer func() { plain = nil }()
				return int64(opts.Events), w.Plain(ctx, plain)
			},
		})
	if err != nil {
		return Result{}, err
	}
	shape := fmt.Sprintf("%d events per import in new streams of %d events, %d-byte data", opts.Events, ImportStreamLength, len(w.ring[0].data.Data))
	o := summarize(ScenarioImport, runs[0], "Store.Import (COPY in one transaction); "+shape)
	b := summarize(ScenarioImport+"/plain-pgx", runs[1], "pgx CopyFrom into plain_events, autocommit; "+shape)
	return withBaseline(o, b, 0), nil
}
