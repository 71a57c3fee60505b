package testkit_test

// The sagas and projections the kit's tests run, declared in this one file
// so that a change of the declaration API is a small edit here.

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/projection"
	"github.com/causewayhq/causeway/saga"
)

// Trip is a travel booking: the test saga's start event and state.
type Trip struct {
	ID     string   `json:"id"`
	Booked []string `json:"booked,omitempty"`
	Paid   float64  `json:"paid,omitempty"`
}

// Paid is the event the booking saga's wait step waits for.
type Paid struct {
	TripID string  `json:"trip_id"`
	Amount float64 `json:"amount"`
}

func (Trip) EventType() string { return "TripRequested" }
func (Paid) EventType() string { return "TripPaid" }

// stepFn is a test's behaviour for a step: nil succeeds.
type stepFn func(ctx context.Context, attempt int) error

// bookingOpts say how the test booking saga's steps behave.
type bookingOpts struct {
	// actions and compensations by step name; missing ones succeed.
	actions, compensations map[string]stepFn
	retry                  saga.RetryPolicy
	// wait adds a wait step for TripPaid with this timeout after the steps.
	wait time.Duration
	// then is a step after the wait.
	then bool
}

// bookingSaga declares "booking": steps flight, hotel and car, each with a
// compensation, each emitting <Step>Booked (and <Step>Cancelled when
// compensated) on the trip's stream; optionally a wait for TripPaid and a
// last step "confirm".
func bookingSaga(o bookingOpts) saga.Saga {
	run := func(fns map[string]stepFn, step string) stepFn {
		if fn := fns[step]; fn != nil {
			return fn
		}
		return func(context.Context, int) error { return nil }
	}
	emit := func(sc *saga.StepContext[Trip], typ string) {
		e, _ := eventlog.NewEvent(typ, map[string]string{"trip_id": sc.CorrelationID})
		sc.Emit("trip-"+sc.CorrelationID, eventlog.Any, e)
	}
	retry := o.retry
	if retry == (saga.RetryPolicy{}) {
		retry = saga.RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Minute, MaxBackoff: time.Hour}
	}
	decls := []saga.Option{saga.StartOn(startTrip)}
	for _, step := range []string{"flight", "hotel", "car"} {
		decls = append(decls, saga.Step(step, func(ctx context.Context, sc *saga.StepContext[Trip]) error {
			if err := run(o.actions, step)(ctx, sc.Attempt); err != nil {
				return err
			}
			sc.State.Booked = append(sc.State.Booked, step)
			emit(sc, step+"Booked")
			return nil
		}, saga.Retry(retry), saga.CompensateRetry(retry),
			saga.Compensate(func(ctx context.Context, sc *saga.StepContext[Trip]) error {
				if err := run(o.compensations, step)(ctx, sc.Attempt); err != nil {
					return err
				}
				emit(sc, step+"Cancelled")
				return nil
			})))
	}
	if o.wait > 0 {
		decls = append(decls, saga.WaitFor("payment", paidTrip, saga.Timeout(o.wait), saga.OnEvent(recordPaid)))
	}
	if o.then {
		decls = append(decls, saga.Step("confirm", func(ctx context.Context, sc *saga.StepContext[Trip]) error {
			emit(sc, "TripConfirmed")
			return nil
		}))
	}
	return saga.New[Trip]("booking", decls...)
}

// startTrip starts a saga per trip, with the trip as its state.
func startTrip(ctx context.Context, e eventlog.Envelope[Trip]) (saga.Start[Trip], error) {
	return saga.Start[Trip]{CorrelationID: e.Data.ID, State: e.Data}, nil
}

// paidTrip correlates a payment with its trip.
func paidTrip(ctx context.Context, e eventlog.Envelope[Paid]) (string, error) {
	return e.Data.TripID, nil
}

// recordPaid keeps the amount paid in the state.
func recordPaid(ctx context.Context, sc *saga.StepContext[Trip], e eventlog.Envelope[Paid]) error {
	sc.State.Paid = e.Data.Amount
	return nil
}

// pingSaga emits an event in its first step and waits for it in its
// second: the event goes round through the log and the saga's subscription.
func pingSaga() saga.Saga {
	return saga.New[Trip]("ping",
		saga.StartOn(startTrip),
		saga.Step("send", func(ctx context.Context, sc *saga.StepContext[Trip]) error {
			e, err := eventlog.Encode(Paid{TripID: sc.CorrelationID, Amount: 1})
			sc.Emit("trip-"+sc.CorrelationID, eventlog.Any, e)
			return err
		}),
		saga.WaitFor("receive", paidTrip, saga.Timeout(time.Hour), saga.OnEvent(recordPaid)),
	)
}

// tripsProjection declares "trips": one row per trip in table trips, and
// the amount paid; fail (if set) runs after the TripPaid handler's update,
// in its transaction, with the handler's attempt count.
func tripsProjection(fail func(ctx context.Context, tx pgx.Tx, attempt int) error) *projection.Projection {
	attempts := 0
	return projection.New("trips",
		projection.Retry(projection.RetryPolicy{MaxAttempts: 4, InitialBackoff: time.Minute, MaxBackoff: time.Hour}),
		projection.OnSetup(func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS trips (id text PRIMARY KEY, paid numeric NOT NULL DEFAULT 0)`)
			return err
		}),
		projection.On(func(ctx context.Context, tx pgx.Tx, e eventlog.Envelope[Trip]) error {
			_, err := tx.Exec(ctx, `INSERT INTO trips (id) VALUES ($1)`, e.Data.ID)
			return err
		}),
		projection.On(func(ctx context.Context, tx pgx.Tx, e eventlog.Envelope[Paid]) error {
			if _, err := tx.Exec(ctx, `UPDATE trips SET paid = paid + $2 WHERE id = $1`, e.Data.TripID, e.Data.Amount); err != nil {
				return err
			}
			attempts++
			if fail != nil {
				return fail(ctx, tx, attempts)
			}
			return nil
		}),
	)
}

// discard drops the engine's log records (an example's output is checked).
var discard = slog.New(slog.DiscardHandler)
