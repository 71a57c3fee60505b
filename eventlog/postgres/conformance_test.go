package postgres_test

import (
	"testing"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/eventlog/eventlogtest"
	"github.com/causewayhq/causeway/eventlog/postgres"
)

func TestConformance(t *testing.T) {
	eventlogtest.Run(t, func(t *testing.T, o eventlogtest.Options) eventlog.Store {
		s, _ := newStore(t, postgres.Config{MaxPayload: o.MaxPayload})
		return s
	})
}
