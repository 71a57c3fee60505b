package saga_test

import (
	"testing"

	"github.com/causewayhq/causeway/eventlog/memory"
	"github.com/causewayhq/causeway/saga"
	"github.com/causewayhq/causeway/saga/sagatest"
)

func TestMemoryConformance(t *testing.T) {
	sagatest.Run(t, func(t *testing.T) sagatest.Env {
		log := memory.New(memory.Options{})
		t.Cleanup(log.Close)
		return sagatest.Env{Store: saga.NewMemory(log), Log: log}
	})
}
