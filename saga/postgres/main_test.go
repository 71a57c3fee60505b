package postgres_test

import (
	"context"
	"testing"
	"time"

	pgstore "github.com/causewayhq/causeway/eventlog/postgres"
	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/saga/postgres"
	qpostgres "github.com/causewayhq/causeway/worker/queue/postgres"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func ctxT(t *testing.T) context.Context { return pgtest.Context(t, 3*time.Minute) }

// newStore returns a saga store and its event log in a fresh, migrated schema.
func newStore(t *testing.T) (*postgres.Store, *pgstore.Store) {
	t.Helper()
	schema, pool := pgtest.NewMigratedSchema(t)
	log, err := pgstore.New(pool, pgstore.Config{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(log.Close)
	store, err := postgres.New(log)
	if err != nil {
		t.Fatal(err)
	}
	return store, log
}

// newQueues returns a queue store on the event log's pool and schema: the
// tables the saga store enqueues into.
func newQueues(t *testing.T, log *pgstore.Store) *qpostgres.Store {
	t.Helper()
	q, err := qpostgres.New(log.Pool(), qpostgres.Schema(log.Schema()))
	if err != nil {
		t.Fatal(err)
	}
	return q
}
