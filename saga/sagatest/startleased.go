package sagatest

import (
	"errors"
	"testing"
	"time"

	"github.com/causewayhq/causeway/saga"
)

// testStartLeased: an instance created leased (the hand-off from a
// subscription to its process's executor) is as a claim leaves one: at
// version 1, leased to its owner, so no other executor claims it while the
// lease runs; its owner records at that version without a claim; if the
// owner never runs it (its process died), any executor claims it once the
// lease has run out, and the owner's late record is refused. A second
// start of the same correlation id creates nothing, leased or not.
func testStartLeased(t *testing.T, e Env) {
	ctx := ctxT(t)
	before := time.Now()
	inst, created, err := e.Store.StartLeased(ctx, nil, newInstance("h", "1"), "owner-a", time.Minute)
	if err != nil || !created {
		t.Fatalf("start leased: %v, %v", created, err)
	}
	if inst.Version != 1 || inst.LeaseOwner != "owner-a" || inst.LeaseExpiresAt.Before(before.Add(50*time.Second)) {
		t.Fatalf("started %+v", inst)
	}
	if got, _ := e.Store.Get(ctx, inst.ID); got.LeaseOwner != "owner-a" || got.Version != 1 {
		t.Fatalf("stored %+v", got)
	}
	if _, again, err := e.Store.StartLeased(ctx, nil, newInstance("h", "1"), "owner-b", time.Minute); err != nil || again {
		t.Fatalf("second leased start: %v, %v", again, err)
	}
	if again, err := e.Store.Start(ctx, nil, newInstance("h", "1")); err != nil || again {
		t.Fatalf("second start: %v, %v", again, err)
	}
	if got, _ := e.Store.Claim(ctx, []string{"h"}, "owner-b", 10, time.Minute); len(got) != 0 {
		t.Fatalf("claimed a leased instance: %+v", got)
	}
	next := inst
	next.Status, next.NextAttemptAt = saga.StatusCompleted, time.Time{}
	rec, err := e.Store.Record(ctx, inst, next, saga.HistoryEntry{Step: "s1", Phase: saga.PhaseAction, Attempt: 1, Outcome: saga.OutcomeCompleted}, saga.Effects{}, nil, 0)
	if err != nil || rec.Version != 2 || rec.Status != saga.StatusCompleted {
		t.Fatalf("owner's record: %+v, %v", rec, err)
	}

	// Started leased by a process that dies before running it.
	lost, _, err := e.Store.StartLeased(ctx, nil, newInstance("h", "2"), "owner-dead", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := e.Store.Claim(ctx, []string{"h"}, "owner-b", 10, time.Minute); len(got) != 0 {
		t.Fatalf("claimed before the lease ran out: %+v", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	var took []saga.Instance
	for len(took) == 0 && time.Now().Before(deadline) {
		took, err = e.Store.Claim(ctx, []string{"h"}, "owner-b", 10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(took) != 1 || took[0].ID != lost.ID || took[0].LeaseOwner != "owner-b" || took[0].Version != 2 {
		t.Fatalf("takeover after the lease: %+v", took)
	}
	if _, err := e.Store.Record(ctx, lost, lost, saga.HistoryEntry{Step: "x"}, saga.Effects{}, nil, 0); !errors.Is(err, saga.ErrLeaseLost) {
		t.Fatalf("dead owner's late record: %v", err)
	}
}
