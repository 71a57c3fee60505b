package checkpoint_test

import (
	"testing"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/checkpoint/checkpointtest"
	"github.com/causewayhq/causeway/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestMemoryConformance(t *testing.T) {
	checkpointtest.Run(t, func(t *testing.T) checkpoint.Store { return checkpoint.NewMemory() })
}

func TestPostgresConformance(t *testing.T) {
	checkpointtest.Run(t, func(t *testing.T) checkpoint.Store {
		schema, pool := pgtest.NewMigratedSchema(t)
		s, err := checkpoint.NewPostgres(pool, schema)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
