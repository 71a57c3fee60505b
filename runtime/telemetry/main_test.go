package telemetry_test

import (
	"testing"

	"github.com/causewayhq/causeway/internal/pgtest"
)

// TestMain gives every test of the package a PostgreSQL server (see pgtest).
func TestMain(m *testing.M) { pgtest.Main(m) }
