package testkit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/runtime/testkit"
	"github.com/causewayhq/causeway/saga"
	"github.com/causewayhq/causeway/worker/queue"
)

// Signup starts the mailing saga; Queue names where its welcome goes.
type Signup struct {
	User  string `json:"user"`
	Queue string `json:"queue"`
}

func (Signup) EventType() string { return "SignedUp" }

type mail struct {
	User    string `json:"user"`
	Kind    string `json:"kind"`
	Attempt int    `json:"attempt"`
}

// mailingSaga reserves a username (enqueuing a "reserved" mail, and a
// "released" one when compensated), then sends a welcome mail to the
// queue the signup names, delayed by an hour; the welcome's first attempt
// fails after enqueuing.
func mailingSaga() *saga.Definition[Signup] {
	send := func(sc *saga.StepContext[Signup], queueName, kind string, opts ...queue.EnqueueOption) {
		b, _ := json.Marshal(mail{User: sc.State.User, Kind: kind, Attempt: sc.Attempt})
		sc.Enqueue(queueName, queue.New(b, opts...))
	}
	return saga.New[Signup]("mailing",
		saga.StartOn(func(ctx context.Context, e eventlog.Envelope[Signup]) (saga.Start[Signup], error) {
			return saga.Start[Signup]{CorrelationID: e.Data.User, State: e.Data}, nil
		}),
		saga.Step("reserve", func(ctx context.Context, sc *saga.StepContext[Signup]) error {
			send(sc, "mail", "reserved")
			return nil
		}, saga.Compensate(func(ctx context.Context, sc *saga.StepContext[Signup]) error {
			send(sc, "mail", "released")
			return nil
		})),
		saga.Step("welcome", func(ctx context.Context, sc *saga.StepContext[Signup]) error {
			send(sc, sc.State.Queue, "welcome", queue.Delay(time.Hour), queue.Header("lang", "en"))
			if sc.Attempt == 1 {
				return errors.New("template service unavailable")
			}
			return nil
		}, saga.Retry(saga.RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Minute})),
	)
}

func kinds(t *testing.T, msgs []queue.Message) []string {
	t.Helper()
	out := []string{}
	for _, m := range msgs {
		var x mail
		if err := json.Unmarshal(m.Payload, &x); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s@%d", x.Kind, x.Attempt))
	}
	return out
}

// TestSagaEnqueues: a step's messages are enqueued when its outcome is
// recorded — none for the failed first attempt, one for the retry — and
// reach the kit's queue store on the kit's clock.
func TestSagaEnqueues(t *testing.T) {
	ctx := t.Context()
	k := testkit.NewSaga[Signup](t, mailingSaga(), testkit.DeclareQueue("mail"))
	k.Publish(ctx, "user-ann", Signup{User: "ann", Queue: "mail"})
	k.RunUntilIdle(ctx)
	if got := kinds(t, k.Enqueued("mail")); !slices.Equal(got, []string{"reserved@1"}) {
		t.Fatalf("after the failed attempt: enqueued %v, want only the reservation", got)
	}
	k.Advance(ctx, time.Minute)
	if st := k.Status("ann"); st != saga.StatusCompleted {
		t.Fatalf("status %s", st)
	}
	msgs := k.Enqueued("mail")
	if got := kinds(t, msgs); !slices.Equal(got, []string{"reserved@1", "welcome@2"}) {
		t.Fatalf("enqueued %v, want the reservation and the retry's welcome", got)
	}
	w := msgs[1]
	if w.Headers["lang"] != "en" || !w.AvailableAt.Equal(k.Clock().Now().Add(time.Hour)) {
		t.Fatalf("welcome stored as %+v (clock at %v)", w, k.Clock().Now())
	}
	// The store holds them, on the kit's clock: the welcome is delayed.
	ds, err := k.Queues().Dequeue(ctx, "mail", 10, time.Minute)
	if err != nil || len(ds) != 1 || ds[0].ID != msgs[0].ID {
		t.Fatalf("dequeued %+v, %v; want the reservation only", ds, err)
	}
	if err := k.Queues().Ack(ctx, ds[0].Receipt); err != nil {
		t.Fatal(err)
	}
	k.Advance(ctx, time.Hour)
	if ds, _ := k.Queues().Dequeue(ctx, "mail", 10, time.Minute); len(ds) != 1 || ds[0].ID != w.ID {
		t.Fatalf("an hour later dequeued %+v; want the welcome", ds)
	}
}

// TestSagaEnqueueToUndeclaredQueueCompensates: the welcome's queue was not
// declared, so its enqueue (on the attempt that succeeds) is refused as in
// production: the step fails for good, and the compensation's message is
// enqueued.
func TestSagaEnqueueToUndeclaredQueueCompensates(t *testing.T) {
	ctx := t.Context()
	k := testkit.NewSaga[Signup](t, mailingSaga(), testkit.DeclareQueue("mail"))
	k.Publish(ctx, "user-bob", Signup{User: "bob", Queue: "welcomes"})
	k.RunUntilIdle(ctx)
	k.Advance(ctx, time.Minute)
	inst := k.Instance("bob")
	if inst.Status != saga.StatusCompensated || inst.StepAttempts("welcome", false) != 2 {
		t.Fatalf("status %s after %d attempts; history %+v", inst.Status, inst.StepAttempts("welcome", false), inst.History)
	}
	if got := kinds(t, k.Enqueued("mail")); !slices.Equal(got, []string{"reserved@1", "released@1"}) {
		t.Fatalf("enqueued %v, want the reservation and its release", got)
	}
	if got := k.Enqueued("welcomes"); len(got) != 0 {
		t.Fatalf("enqueued to the undeclared queue: %+v", got)
	}
}
