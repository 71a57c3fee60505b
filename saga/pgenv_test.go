package saga_test

import (
	"testing"

	pgstore "github.com/causewayhq/causeway/eventlog/postgres"
	"github.com/causewayhq/causeway/internal/pgtest"
	sagapg "github.com/causewayhq/causeway/saga/postgres"
	"github.com/causewayhq/causeway/worker"
)

// pgEnv runs sagas on the PostgreSQL stores in a fresh schema (the store's
// own tests, and its conformance run, are in saga/postgres).
type pgEnv struct {
	schema string
	log    *pgstore.Store
	store  *sagapg.Store
	// reader, if set, is what the saga's worker and executor read (an
	// eventlog.UpcastStore over log).
	reader worker.Log
}

func newPGEnv(t *testing.T) *pgEnv {
	t.Helper()
	schema, pool := pgtest.NewMigratedSchema(t)
	log, err := pgstore.New(pool, pgstore.Config{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(log.Close)
	store, err := sagapg.New(log)
	if err != nil {
		t.Fatal(err)
	}
	return &pgEnv{schema: schema, log: log, store: store}
}
