package testkit_test

import (
	"testing"

	"github.com/causewayhq/causeway/runtime/testkit"
)

// The projection kit's tests need PostgreSQL for the projections' SQL.
func TestMain(m *testing.M) { testkit.Main(m) }
