package saga_test

import (
	"os"
	"testing"

	"github.com/causewayhq/causeway/internal/pgtest"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	pgtest.Main(m)
}
