package testkit_test

import (
	"testing"

	"github.com/causewayhq/causeway/internal/pgtest"
)

// The projection kit's tests need PostgreSQL for the projections' SQL.
func TestMain(m *testing.M) { pgtest.Main(m) }
