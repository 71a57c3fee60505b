package saga_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/saga"
)

// TestEmitRefusedByPostgres: an emitted event whose data PostgreSQL cannot
// store (invalid UTF-8, which json.Valid lets through) is a permanent
// refusal of the outcome, whatever error the event log maps it to.
func TestEmitRefusedByPostgres(t *testing.T) {
	e := newPGEnv(t)
	ctx := ctxT(t)
	inst := saga.Instance{ID: saga.InstanceID("r", "1"), Type: "r", CorrelationID: "1", State: json.RawMessage(`{}`),
		Status: saga.StatusRunning, NextAttemptAt: time.Now().Add(-time.Second)}
	if _, err := e.store.Start(ctx, nil, inst); err != nil {
		t.Fatal(err)
	}
	claimed, err := e.store.Claim(ctx, []string{"r"}, "a", 1, time.Minute)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	ev := eventlog.EventData{Type: "Noted", Data: json.RawMessage("{\"a\":\"\xff\"}")}
	next := claimed[0]
	next.Step = 1
	_, err = e.store.Record(ctx, claimed[0], next, saga.HistoryEntry{Step: "s", Phase: saga.PhaseAction, Attempt: 1, Outcome: saga.OutcomeCompleted},
		[]saga.Emit{{StreamID: "notes-1", Expected: eventlog.Any, Events: []eventlog.EventData{ev}}}, nil, 0)
	var refused *saga.RefusedError
	if !errors.As(err, &refused) || !refused.Permanent {
		t.Fatalf("Record = %v; want a permanent refusal", err)
	}
}

// TestUnstorableCorrelationIDDeadLettered: a start function returning a
// correlation id PostgreSQL cannot store fails the start event for good
// (dead-lettered at its first attempt, saying why) instead of retrying it;
// the next start goes through.
func TestUnstorableCorrelationIDDeadLettered(t *testing.T) {
	e := newPGEnv(t)
	d := saga.New[orderState]("badcorr",
		saga.StartOn(func(ctx context.Context, e eventlog.Envelope[order]) (saga.Start[orderState], error) {
			if e.Data.Order == "bad" {
				return saga.Start[orderState]{CorrelationID: "bad\x00id"}, nil
			}
			return saga.Start[orderState]{CorrelationID: e.Data.Order, State: orderState{Order: e.Data.Order}}, nil
		}),
		saga.Step("s", func(ctx context.Context, sc *saga.StepContext[orderState]) error { return nil }))
	e.append(t, "order-bad", "OrderPlaced", order{Order: "bad"})
	e.append(t, "order-good", "OrderPlaced", order{Order: "good"})
	e.run(t, d, "x")
	e.waitStatus(t, saga.InstanceID("badcorr", "good"), 20*time.Second, saga.StatusCompleted)
	cps, err := checkpoint.NewPostgres(e.log.Pool(), e.schema)
	if err != nil {
		t.Fatal(err)
	}
	dls, err := cps.DeadLetters(ctxT(t), checkpoint.DeadLetterQuery{Subscription: saga.SubscriptionName("badcorr")})
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 1 || dls[0].StreamID != "order-bad" || dls[0].Attempts != 1 || !strings.Contains(dls[0].Error, "invalid correlation id") {
		t.Fatalf("dead letters %+v; want the bad start, at its first attempt, saying why", dls)
	}
}
