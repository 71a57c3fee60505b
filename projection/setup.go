package projection

import (
	"context"
	"fmt"
	"hash/fnv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Setup runs the (unversioned) projections' set-up hooks (each in its own transaction)
// under an advisory lock, so runners starting together do not race on
// CREATE statements. `runner migrate` and every runner start call it.
func Setup(ctx context.Context, pool *pgxpool.Pool, schema string, projections ...*Projection) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("projection: setup: %w", err)
	}
	defer conn.Release()
	key := setupLockKey(schema)
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
		return fmt.Errorf("projection: setup lock: %w", err)
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key); err != nil {
			conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	for _, p := range projections {
		if err := p.Err(); err != nil {
			return err
		}
		if p.setup == nil || p.Versioned() {
			continue // a versioned projection's set-up runs in each new build's schema
		}
		if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error { return p.setup(ctx, tx) }); err != nil {
			return fmt.Errorf("projection %s: setup: %w", p.name, err)
		}
	}
	return nil
}

func setupLockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("causeway-projection-setup:" + schema))
	return int64(h.Sum64())
}
