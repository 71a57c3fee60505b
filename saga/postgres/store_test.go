package postgres_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/saga"
	"github.com/causewayhq/causeway/saga/sagatest"
	"github.com/causewayhq/causeway/worker/queue"
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

// TestEnqueueRolledBackWithOutcome: a step's enqueue is written in the
// transaction that records its outcome, before the instance's row; when
// PostgreSQL then refuses the outcome (a state number jsonb cannot hold,
// which the JSON checks let through), the message goes with it.
func TestEnqueueRolledBackWithOutcome(t *testing.T) {
	store, log := newStore(t)
	queues := newQueues(t, log)
	ctx := ctxT(t)
	if _, err := queues.Declare(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	inst := saga.Instance{ID: saga.InstanceID("r", "1"), Type: "r", CorrelationID: "1", State: json.RawMessage(`{}`),
		Status: saga.StatusRunning, NextAttemptAt: time.Now().Add(-time.Second)}
	if _, err := store.Start(ctx, nil, inst); err != nil {
		t.Fatal(err)
	}
	claimed, err := store.Claim(ctx, []string{"r"}, "a", 1, time.Minute)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	next := claimed[0]
	next.Step, next.State = 1, json.RawMessage(`{"n":1e1000000}`)
	fx := saga.Effects{Enqueues: []saga.Enqueue{{Queue: "jobs", Messages: []queue.Outgoing{queue.New(json.RawMessage(`{"job":1}`))}}}}
	_, err = store.Record(ctx, claimed[0], next, saga.HistoryEntry{Step: "s", Phase: saga.PhaseAction, Attempt: 1, Outcome: saga.OutcomeCompleted}, fx, nil, 0)
	var refused *saga.RefusedError
	if !errors.As(err, &refused) || !refused.Permanent {
		t.Fatalf("Record = %v; want a permanent refusal of the state", err)
	}
	st, err := queues.Stats(ctx, "jobs")
	if err != nil {
		t.Fatal(err)
	}
	if st.Depth != 0 {
		t.Fatalf("the refused outcome left %d messages in the queue", st.Depth)
	}
	// The same outcome with a storable state enqueues its message.
	next.State = json.RawMessage(`{"n":1}`)
	if _, err := store.Record(ctx, claimed[0], next, saga.HistoryEntry{Step: "s", Phase: saga.PhaseAction, Attempt: 1, Outcome: saga.OutcomeCompleted}, fx, nil, 0); err != nil {
		t.Fatal(err)
	}
	if st, _ := queues.Stats(ctx, "jobs"); st.Depth != 1 {
		t.Fatalf("the recorded outcome left %d messages in the queue, want 1", st.Depth)
	}
}
