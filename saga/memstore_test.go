package saga_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/causewayhq/causeway/eventlog/memory"
	"github.com/causewayhq/causeway/saga"
	"github.com/causewayhq/causeway/saga/sagatest"
	"github.com/causewayhq/causeway/worker/queue"
	qmemory "github.com/causewayhq/causeway/worker/queue/memory"
)

func TestMemoryConformance(t *testing.T) {
	sagatest.Run(t, func(t *testing.T) sagatest.Env {
		log := memory.New(memory.Options{})
		t.Cleanup(log.Close)
		queues := qmemory.New()
		return sagatest.Env{Store: saga.NewMemory(log, saga.MemoryQueues(queues)), Log: log, Queues: queues}
	})
}

// TestMemoryWithoutQueuesRefusesEnqueue: a memory store given no queue
// store refuses an outcome with an enqueue for good, saying why, and
// writes nothing.
func TestMemoryWithoutQueuesRefusesEnqueue(t *testing.T) {
	ctx := context.Background()
	store := saga.NewMemory(nil)
	inst := saga.Instance{ID: saga.InstanceID("m", "1"), Type: "m", CorrelationID: "1", State: json.RawMessage(`{}`),
		Status: saga.StatusRunning, NextAttemptAt: time.Now().Add(-time.Second)}
	if _, err := store.Start(ctx, nil, inst); err != nil {
		t.Fatal(err)
	}
	claimed, err := store.Claim(ctx, []string{"m"}, "a", 1, time.Minute)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	next := claimed[0]
	next.Step = 1
	_, err = store.Record(ctx, claimed[0], next, saga.HistoryEntry{Step: "s", Phase: saga.PhaseAction, Attempt: 1, Outcome: saga.OutcomeCompleted},
		saga.Effects{Enqueues: []saga.Enqueue{{Queue: "jobs", Messages: []queue.Outgoing{queue.New(json.RawMessage(`{}`))}}}}, nil, 0)
	var refused *saga.RefusedError
	if !errors.As(err, &refused) || !refused.Permanent || !strings.Contains(err.Error(), "no queue store") {
		t.Fatalf("Record = %v; want a permanent refusal naming the missing queue store", err)
	}
	if got, _ := store.Get(ctx, inst.ID); got.Version != claimed[0].Version {
		t.Fatalf("a refused record changed the instance: %+v", got)
	}
}
