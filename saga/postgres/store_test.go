package postgres_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/saga"
	"github.com/causewayhq/causeway/saga/sagatest"
)

func TestConformance(t *testing.T) {
	sagatest.Run(t, func(t *testing.T) sagatest.Env {
		store, log := newStore(t)
		return sagatest.Env{Store: store, Log: log, Queues: newQueues(t, log)}
	})
}

// TestEmitRefusedByPostgres: an emitted event whose data PostgreSQL cannot
// store (invalid UTF-8, which json.Valid lets through) is a permanent
// refusal of the outcome, whatever error the event log maps it to.
func TestEmitRefusedByPostgres(t *testing.T) {
	store, _ := newStore(t)
	ctx := ctxT(t)
	inst := saga.Instance{ID: saga.InstanceID("r", "1"), Type: "r", CorrelationID: "1", State: json.RawMessage(`{}`),
		Status: saga.StatusRunning, NextAttemptAt: time.Now().Add(-time.Second)}
	if _, err := store.Start(ctx, nil, inst); err != nil {
		t.Fatal(err)
	}
	claimed, err := store.Claim(ctx, []string{"r"}, "a", 1, time.Minute)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	ev := eventlog.EventData{Type: "Noted", Data: json.RawMessage("{\"a\":\"\xff\"}")}
	next := claimed[0]
	next.Step = 1
	_, err = store.Record(ctx, claimed[0], next, saga.HistoryEntry{Step: "s", Phase: saga.PhaseAction, Attempt: 1, Outcome: saga.OutcomeCompleted},
		saga.Effects{Emits: []saga.Emit{{StreamID: "notes-1", Expected: eventlog.Any, Events: []eventlog.EventData{ev}}}}, nil, 0)
	var refused *saga.RefusedError
	if !errors.As(err, &refused) || !refused.Permanent {
		t.Fatalf("Record = %v; want a permanent refusal", err)
	}
}
