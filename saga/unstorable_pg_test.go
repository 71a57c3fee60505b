package saga_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/saga"
)

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
