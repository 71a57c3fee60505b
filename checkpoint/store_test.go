package checkpoint_test

import (
	"context"
	"testing"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/checkpoint/checkpointtest"
	"github.com/causewayhq/causeway/internal/migrations"
	"github.com/causewayhq/causeway/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestMemoryConformance(t *testing.T) {
	checkpointtest.Run(t, func(t *testing.T) checkpoint.Store { return checkpoint.NewMemory() })
}

func TestPostgresConformance(t *testing.T) {
	checkpointtest.Run(t, func(t *testing.T) checkpoint.Store {
		schema, pool := pgtest.NewSchema(t)
		if _, err := migrations.Apply(context.Background(), pool, schema); err != nil {
			t.Fatal(err)
		}
		s, err := checkpoint.NewPostgres(pool, schema)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
