package saga_test

import (
	"context"
	"testing"

	pgstore "github.com/causewayhq/causeway/eventlog/postgres"
	"github.com/causewayhq/causeway/internal/migrations"
	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/saga"
	"github.com/causewayhq/causeway/saga/sagatest"
	"github.com/causewayhq/causeway/worker"
)

func TestPostgresConformance(t *testing.T) {
	sagatest.Run(t, func(t *testing.T) sagatest.Env {
		e := newPGEnv(t)
		return sagatest.Env{Store: e.store, Log: e.log}
	})
}

type pgEnv struct {
	schema string
	log    *pgstore.Store
	store  *saga.PostgresStore
	// reader, if set, is what the saga's worker and executor read (an
	// eventlog.UpcastStore over log).
	reader worker.Log
}

func newPGEnv(t *testing.T) *pgEnv {
	t.Helper()
	schema, pool := pgtest.NewSchema(t)
	if _, err := migrations.Apply(context.Background(), pool, schema); err != nil {
		t.Fatal(err)
	}
	log, err := pgstore.New(pool, pgstore.Config{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(log.Close)
	store, err := saga.NewPostgres(log)
	if err != nil {
		t.Fatal(err)
	}
	return &pgEnv{schema: schema, log: log, store: store}
}
