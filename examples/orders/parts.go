package orders

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/projection"
	"github.com/causewayhq/causeway/saga"
)

// The application's parts on their own, for tests that run them without a
// runtime (see orders_test.go, written with runtime/testkit).

// FulfilmentSaga returns the order_fulfilment saga, its steps calling the
// simulated warehouse, payment provider and courier in pool's database
// (create them with SetupServices).
func FulfilmentSaga(pool *pgxpool.Pool) saga.Saga {
	return newSaga(&services{pool: pool, schema: Schema})
}

// SummaryProjection returns the order_summary projection.
func SummaryProjection() *projection.Projection { return newProjection(Schema) }

// SetupServices creates the simulated services' tables, stocked.
func SetupServices(ctx context.Context, pool *pgxpool.Pool) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return setupServices(ctx, tx) })
}
