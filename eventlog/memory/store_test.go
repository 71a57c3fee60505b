package memory_test

import (
	"testing"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/eventlog/eventlogtest"
	"github.com/causewayhq/causeway/eventlog/memory"
)

func TestConformance(t *testing.T) {
	eventlogtest.Run(t, func(t *testing.T, o eventlogtest.Options) eventlog.Store {
		s := memory.New(memory.Options{MaxPayload: o.MaxPayload})
		t.Cleanup(s.Close)
		return s
	})
}
