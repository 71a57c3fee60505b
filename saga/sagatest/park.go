package sagatest

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/saga"
)

// testParkLooksInInbox: recording an instance parked at a wait step looks
// in its inbox in the same transaction. An event of the awaited type filed
// before makes it due at once with the lease kept (no claim to look); with
// none it is stored unleased until its deadline, and only a filing of its
// type wakes it.
func testParkLooksInInbox(t *testing.T, e Env) {
	ctx := ctxT(t)
	park := func(corr string) (saga.Instance, saga.Instance) {
		t.Helper()
		if _, err := e.Store.Start(ctx, nil, newInstance("p", corr)); err != nil {
			t.Fatal(err)
		}
		var claimed []saga.Instance
		for _, c := range mustClaim(t, e, "p") {
			if c.CorrelationID == corr {
				claimed = append(claimed, c)
			}
		}
		if len(claimed) != 1 {
			t.Fatalf("claimed %+v", claimed)
		}
		next := claimed[0]
		next.Step, next.Status, next.WaitEvent = 1, saga.StatusWaiting, "Paid"
		next.WaitDeadline = time.Now().Add(time.Hour)
		next.NextAttemptAt = next.WaitDeadline
		rec, err := e.Store.Record(ctx, claimed[0], next, saga.HistoryEntry{Step: "s1", Phase: saga.PhaseAction, Attempt: 1, Outcome: saga.OutcomeCompleted},
			saga.Effects{}, nil, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return claimed[0], rec
	}
	file := func(corr, typ string) {
		t.Helper()
		if err := e.Store.AddInbox(ctx, nil, "p", corr, eventlog.Event{ID: uuid.New(), Type: typ, Position: eventlog.Position{TxID: 9, Seq: 1}}); err != nil {
			t.Fatal(err)
		}
	}

	// Filed early: due at once, still leased to the executor that parked it.
	file("early", "Paid")
	claimed, rec := park("early")
	if rec.Status != saga.StatusWaiting || rec.LeaseOwner != claimed.LeaseOwner || rec.NextAttemptAt.After(time.Now()) ||
		rec.Version != claimed.Version+1 || rec.WaitEvent != "Paid" {
		t.Fatalf("parked with its event filed: %+v; want due now and leased to %s", rec, claimed.LeaseOwner)
	}
	// Nothing filed (another type does not count): unleased until the deadline.
	file("late", "Other")
	_, rec = park("late")
	if rec.LeaseOwner != "" || rec.NextAttemptAt.Before(time.Now().Add(30*time.Minute)) {
		t.Fatalf("parked with nothing filed: %+v; want unleased until the deadline", rec)
	}
	if got, _ := e.Store.Get(ctx, rec.ID); got.LeaseOwner != "" || got.NextAttemptAt.Before(time.Now().Add(30*time.Minute)) || got.WaitEvent != "Paid" {
		t.Fatalf("stored %+v", got)
	}
	file("late", "Other")
	if got := mustClaim(t, e, "p"); len(got) != 0 {
		t.Fatalf("an event of another type woke the parked instance: %+v", got)
	}
	file("late", "Paid")
	got := mustClaim(t, e, "p")
	if len(got) != 1 || got[0].ID != rec.ID {
		t.Fatalf("the awaited event did not wake the parked instance: %+v", got)
	}
}

func mustClaim(t *testing.T, e Env, typ string) []saga.Instance {
	t.Helper()
	got, err := e.Store.Claim(ctxT(t), []string{typ}, fmt.Sprintf("exec-%s", typ), 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return got
}
