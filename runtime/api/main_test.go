package api_test

import (
	"testing"

	"github.com/causewayhq/causeway/internal/pgtest"
)

// TestMain gives the examples a PostgreSQL server (see pgtest).
func TestMain(m *testing.M) { pgtest.Main(m) }
