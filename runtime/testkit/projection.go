package testkit

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/eventlog/memory"
	"github.com/causewayhq/causeway/projection"
)

// ProjectionKit runs one projection with the log and its checkpoints in
// memory and its handlers' SQL on a database the test gives: each batch is
// one transaction on that pool, committed together with the (memory)
// checkpoint, as in production. Build it with NewProjection; it stops when
// the test ends.
type ProjectionKit struct {
	h    *harness
	name string
}

// NewProjection runs p's set-up (OnSetup) on db and starts the kit. The test
// owns db (e.g. a schema of its own) and queries the read model through it.
func NewProjection(tb testing.TB, p *projection.Projection, db *pgxpool.Pool, opts ...Option) *ProjectionKit {
	tb.Helper()
	sub, err := p.Subscription()
	if err != nil {
		tb.Fatalf("testkit: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := projection.Setup(ctx, db, "testkit", p); err != nil {
		tb.Fatalf("testkit: %v", err)
	}
	h := newHarness(tb, newConfig(tb, opts))
	mem := checkpoint.NewMemory()
	h.start(&pgCheckpoints{MemoryStore: mem, db: db}, mem, sub)
	return &ProjectionKit{h: h, name: p.Name()}
}

// Publish appends events to a stream; see SagaKit.Publish.
func (k *ProjectionKit) Publish(ctx context.Context, stream string, events ...any) eventlog.AppendResult {
	k.h.tb.Helper()
	return k.h.publish(ctx, stream, events)
}

// RunUntilIdle returns once every published event is handled and committed,
// or dead-lettered and waiting for a retry the clock has not reached.
func (k *ProjectionKit) RunUntilIdle(ctx context.Context) {
	k.h.tb.Helper()
	k.h.runUntilIdle(ctx)
}

// Advance moves the clock forward by d, firing every handler retry due on
// the way; see SagaKit.Advance.
func (k *ProjectionKit) Advance(ctx context.Context, d time.Duration) {
	k.h.tb.Helper()
	k.h.advance(ctx, d)
}

// AdvanceToNext moves the clock to the next scheduled retry; see
// SagaKit.AdvanceToNext.
func (k *ProjectionKit) AdvanceToNext(ctx context.Context) (time.Duration, bool) {
	k.h.tb.Helper()
	return k.h.advanceToNext(ctx)
}

// DeadLetters returns the projection's dead letters: events whose handler
// failed, with their attempts and when they are retried (zero: never).
func (k *ProjectionKit) DeadLetters() []checkpoint.DeadLetter {
	k.h.tb.Helper()
	dls, err := k.h.deadLetters(context.Background(), k.name)
	if err != nil {
		k.h.tb.Fatalf("testkit: %v", err)
	}
	return dls
}

// Clock is the kit's clock.
func (k *ProjectionKit) Clock() *Clock { return k.h.clock }

// Log is the kit's event log.
func (k *ProjectionKit) Log() *memory.Store { return k.h.log }

// pgCheckpoints keeps checkpoints and dead letters in memory but gives each
// unit of work a transaction on the test's database, committed before the
// memory part: the handlers' writes and the checkpoint land together or
// not at all, as with the PostgreSQL store. (Only the kit's single worker
// holds leases, so the memory commit, fenced by epoch, does not fail after
// the database's.)
type pgCheckpoints struct {
	*checkpoint.MemoryStore
	db *pgxpool.Pool
}

func (s *pgCheckpoints) Begin(ctx context.Context) (checkpoint.Tx, error) {
	mt, err := s.MemoryStore.Begin(ctx)
	if err != nil {
		return nil, err
	}
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return &pgTx{Tx: mt, pg: tx}, nil
}

type pgTx struct {
	checkpoint.Tx
	pg pgx.Tx
}

func (t *pgTx) Pgx() pgx.Tx { return t.pg }

func (t *pgTx) Commit(ctx context.Context, l checkpoint.Lease, pos eventlog.Position) error {
	if err := t.pg.Commit(ctx); err != nil {
		_ = t.Tx.Rollback(ctx)
		return err
	}
	return t.Tx.Commit(ctx, l, pos)
}

func (t *pgTx) Rollback(ctx context.Context) error {
	err := t.pg.Rollback(ctx)
	if errors.Is(err, pgx.ErrTxClosed) {
		err = nil // committed already
	}
	return errors.Join(err, t.Tx.Rollback(ctx))
}
