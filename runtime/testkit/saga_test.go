package testkit_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/causewayhq/causeway/runtime/testkit"
	"github.com/causewayhq/causeway/saga"
	"github.com/causewayhq/causeway/worker"
)

func TestSagaCompletes(t *testing.T) {
	ctx := t.Context()
	k := testkit.NewSaga[Trip](t, bookingSaga(bookingOpts{}))
	k.Publish(ctx, "trip-t1", Trip{ID: "t1"})
	k.RunUntilIdle(ctx)

	inst := k.Instance("t1")
	if inst.Status != saga.StatusCompleted {
		t.Fatalf("status %s, want completed; history %+v", inst.Status, inst.History)
	}
	if want := []string{"flight", "hotel", "car"}; !slices.Equal(inst.State.Booked, want) || !slices.Equal(k.Completed("t1"), want) {
		t.Fatalf("booked %v, completed %v, want %v", inst.State.Booked, k.Completed("t1"), want)
	}
	if got, want := testkit.Types(k.Emitted()), []string{"flightBooked", "hotelBooked", "carBooked"}; !slices.Equal(got, want) {
		t.Fatalf("emitted %v, want %v", got, want)
	}
	if c := k.Compensated("t1"); len(c) != 0 {
		t.Fatalf("compensated %v, want none", c)
	}
}

func TestSagaCompensatesInReverse(t *testing.T) {
	ctx := t.Context()
	k := testkit.NewSaga[Trip](t, bookingSaga(bookingOpts{actions: map[string]stepFn{
		"car": func(context.Context, int) error { return worker.Permanent(errors.New("no cars left")) },
	}}))
	k.Publish(ctx, "trip-t1", Trip{ID: "t1"})
	k.RunUntilIdle(ctx)

	if st := k.Status("t1"); st != saga.StatusCompensated {
		t.Fatalf("status %s, want compensated", st)
	}
	if got, want := k.Compensated("t1"), []string{"hotel", "flight"}; !slices.Equal(got, want) {
		t.Fatalf("compensated %v, want %v", got, want)
	}
	want := []string{"flightBooked", "hotelBooked", "hotelCancelled", "flightCancelled"}
	if got := testkit.Types(k.Emitted()); !slices.Equal(got, want) {
		t.Fatalf("emitted %v, want %v", got, want)
	}
}

// A failing step is retried when the clock reaches its backoff, not before:
// the executor and the store tell time by the kit's clock.
func TestSagaRetryFiresWhenTheClockMoves(t *testing.T) {
	ctx := t.Context()
	var calls atomic.Int32
	k := testkit.NewSaga[Trip](t, bookingSaga(bookingOpts{
		retry: worker.RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Minute, MaxBackoff: time.Hour},
		actions: map[string]stepFn{"hotel": func(_ context.Context, attempt int) error {
			calls.Add(1)
			if attempt < 3 {
				return errors.New("hotel busy")
			}
			return nil
		}},
	}))
	k.Publish(ctx, "trip-t1", Trip{ID: "t1"})
	k.RunUntilIdle(ctx)
	inst := k.Instance("t1")
	if inst.Status != saga.StatusRunning || inst.Attempts != 1 || calls.Load() != 1 {
		t.Fatalf("after the first failure: status %s, attempts %d, calls %d", inst.Status, inst.Attempts, calls.Load())
	}
	if want := testkit.Epoch.Add(time.Minute); !inst.NextAttemptAt.Equal(want) {
		t.Fatalf("next attempt at %v, want %v (one minute after the failure, on the kit's clock)", inst.NextAttemptAt, want)
	}

	k.Advance(ctx, 59*time.Second)
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d calls 59 s into a one-minute backoff, want 1", n)
	}
	k.Advance(ctx, time.Second)
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d calls at the end of the backoff, want 2", n)
	}
	// The second backoff is two minutes; Advance goes through it on the way.
	k.Advance(ctx, time.Hour)
	inst = k.Instance("t1")
	if inst.Status != saga.StatusCompleted || calls.Load() != 3 || inst.StepAttempts("hotel", false) != 3 {
		t.Fatalf("status %s, calls %d, hotel attempts %d; want completed after 3", inst.Status, calls.Load(), inst.StepAttempts("hotel", false))
	}
	var failedAt []time.Time
	for _, h := range inst.History {
		if h.Step == "hotel" {
			failedAt = append(failedAt, h.At)
		}
	}
	want := []time.Time{testkit.Epoch, testkit.Epoch.Add(time.Minute), testkit.Epoch.Add(3 * time.Minute)}
	if !slices.EqualFunc(failedAt, want, time.Time.Equal) {
		t.Fatalf("hotel attempts at %v, want %v (each at its due time)", failedAt, want)
	}
}

func TestSagaWaitTimesOut(t *testing.T) {
	ctx := t.Context()
	k := testkit.NewSaga[Trip](t, bookingSaga(bookingOpts{wait: 30 * time.Minute, then: true}))
	k.Publish(ctx, "trip-t1", Trip{ID: "t1"})
	k.RunUntilIdle(ctx)
	if st := k.Status("t1"); st != saga.StatusWaiting {
		t.Fatalf("status %s, want waiting", st)
	}
	k.Advance(ctx, 30*time.Minute-time.Nanosecond)
	if st := k.Status("t1"); st != saga.StatusWaiting {
		t.Fatalf("status %s just before the timeout, want waiting", st)
	}
	k.Advance(ctx, time.Nanosecond)
	if st := k.Status("t1"); st != saga.StatusCompensated {
		t.Fatalf("status %s after the timeout, want compensated", st)
	}
	if got, want := k.Compensated("t1"), []string{"car", "hotel", "flight"}; !slices.Equal(got, want) {
		t.Fatalf("compensated %v, want %v", got, want)
	}
}

func TestSagaWaitReceives(t *testing.T) {
	ctx := t.Context()
	k := testkit.NewSaga[Trip](t, bookingSaga(bookingOpts{wait: 30 * time.Minute, then: true}))
	k.Publish(ctx, "trip-t1", Trip{ID: "t1"})
	k.RunUntilIdle(ctx)
	k.Advance(ctx, 10*time.Minute)
	k.Publish(ctx, "payments", Paid{TripID: "t1", Amount: 420})
	k.RunUntilIdle(ctx)
	inst := k.Instance("t1")
	if inst.Status != saga.StatusCompleted || inst.State.Paid != 420 {
		t.Fatalf("status %s, paid %v; want completed, 420", inst.Status, inst.State.Paid)
	}
	if got := testkit.Types(k.Emitted()); got[len(got)-1] != "TripConfirmed" {
		t.Fatalf("emitted %v, want TripConfirmed last", got)
	}
	if _, more := k.AdvanceToNext(ctx); more {
		t.Fatalf("something is still scheduled after the saga completed")
	}
}

// An event the saga emits and then waits for goes round the log and the
// subscription within one RunUntilIdle: idle means idle across both.
func TestRunUntilIdleFollowsEmittedEvents(t *testing.T) {
	ctx := t.Context()
	k := testkit.NewSaga[Trip](t, pingSaga())
	for _, id := range []string{"a", "b", "c"} {
		k.Publish(ctx, "trip-"+id, Trip{ID: id})
	}
	k.RunUntilIdle(ctx)
	for _, id := range []string{"a", "b", "c"} {
		if inst := k.Instance(id); inst.Status != saga.StatusCompleted || inst.State.Paid != 1 {
			t.Fatalf("%s: status %s, paid %v; want completed, 1", id, inst.Status, inst.State.Paid)
		}
	}
}

// A failed compensation leaves the saga failed; the operator's retry, on
// the kit's Admin, finishes it.
func TestSagaFailedCompensationAndOperatorRetry(t *testing.T) {
	ctx := t.Context()
	var broken atomic.Bool
	broken.Store(true)
	k := testkit.NewSaga[Trip](t, bookingSaga(bookingOpts{
		retry: worker.RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Second},
		actions: map[string]stepFn{
			"car": func(context.Context, int) error { return worker.Permanent(errors.New("no cars")) },
		},
		compensations: map[string]stepFn{"hotel": func(context.Context, int) error {
			if broken.Load() {
				return errors.New("hotel API down")
			}
			return nil
		}},
	}))
	k.Publish(ctx, "trip-t1", Trip{ID: "t1"})
	k.RunUntilIdle(ctx)
	k.Advance(ctx, time.Minute)
	inst := k.Instance("t1")
	if inst.Status != saga.StatusFailed || inst.StepAttempts("hotel", true) != 2 {
		t.Fatalf("status %s after %d hotel compensation attempts, want failed after 2", inst.Status, inst.StepAttempts("hotel", true))
	}
	broken.Store(false)
	if _, err := k.Admin().Retry(ctx, inst.ID); err != nil {
		t.Fatal(err)
	}
	k.RunUntilIdle(ctx)
	if st, c := k.Status("t1"), k.Compensated("t1"); st != saga.StatusCompensated || !slices.Equal(c, []string{"hotel", "flight"}) {
		t.Fatalf("status %s, compensated %v; want compensated, [hotel flight]", st, c)
	}
}

func TestSagaStartThatFailsIsADeadLetter(t *testing.T) {
	ctx := t.Context()
	k := testkit.NewSaga[Trip](t, bookingSaga(bookingOpts{}))
	k.Publish(ctx, "trip-t1", testkit.Event("TripRequested", map[string]int{"id": 7})) // id is not a string
	k.RunUntilIdle(ctx)
	dls := k.DeadLetters()
	if len(dls) != 1 || dls[0].Type != "TripRequested" || !dls[0].NextAttemptAt.IsZero() {
		t.Fatalf("dead letters %+v, want the TripRequested event, dead (permanent)", dls)
	}
	if _, ok := k.Lookup("t1"); ok {
		t.Fatal("an instance started from undecodable data")
	}
}
