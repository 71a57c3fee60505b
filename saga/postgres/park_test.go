package postgres_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/saga"
)

// TestParkWaitsForFilingInProgress: an event is being filed for an
// instance (the subscription's transaction has filed it, not yet
// committed) while the executor parks that instance at the event's wait.
// The park waits for the filing to commit and then receives the event,
// instead of parking blind until its deadline with the filing's wake-up
// already past.
func TestParkWaitsForFilingInProgress(t *testing.T) {
	store, log := newStore(t)
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
	filing, err := log.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = filing.Rollback(ctx) }()
	if err := store.AddInbox(ctx, filing, "r", "1", eventlog.Event{ID: uuid.New(), Type: "Paid", Position: eventlog.Position{TxID: 1, Seq: 1}}); err != nil {
		t.Fatal(err)
	}

	next := claimed[0]
	next.Step, next.Status, next.WaitEvent = 1, saga.StatusWaiting, "Paid"
	next.WaitDeadline = time.Now().Add(time.Hour)
	next.NextAttemptAt = next.WaitDeadline
	type outcome struct {
		inst saga.Instance
		err  error
	}
	parked := make(chan outcome, 1)
	go func() {
		rec, err := store.Record(ctx, claimed[0], next, saga.HistoryEntry{Step: "s", Phase: saga.PhaseAction, Attempt: 1, Outcome: saga.OutcomeCompleted},
			saga.Effects{}, nil, time.Minute)
		parked <- outcome{rec, err}
	}()
	// Commit the filing once the park waits for it (or has finished
	// without waiting, which the checks below refuse).
	var done *outcome
	for deadline := time.Now().Add(10 * time.Second); done == nil; time.Sleep(time.Millisecond) {
		select {
		case o := <-parked:
			done = &o
			continue
		default:
		}
		var waiting bool
		if err := log.Pool().QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE NOT granted)`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the park neither finished nor waited")
		}
	}
	if err := filing.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if done == nil {
		o := <-parked
		done = &o
	}
	if done.err != nil {
		t.Fatal(done.err)
	}
	if done.inst.LeaseOwner != "a" || done.inst.NextAttemptAt.After(time.Now()) {
		got, _ := store.Get(ctx, inst.ID)
		t.Fatalf("parked %+v while its event was being filed; stored %+v; want due now and leased", done.inst, got)
	}
}
