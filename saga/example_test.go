package saga_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/eventlog/memory"
	"github.com/causewayhq/causeway/saga"
	"github.com/causewayhq/causeway/worker"
)

// TripBooked starts a trip saga; its type name is declared once.
type TripBooked struct {
	TripID string `json:"trip_id"`
}

func (TripBooked) EventType() string { return "TripBooked" }

type Trip struct {
	ID    string   `json:"id"`
	Steps []string `json:"steps"`
}

// A saga declared with options and run on the memory stores: the car
// cannot be rented, so the booked flight is cancelled.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	quiet := slog.New(slog.DiscardHandler)
	log := memory.New(memory.Options{})
	defer log.Close()
	store := saga.NewMemory(log)

	trip := saga.New[Trip]("trip",
		saga.StartOn(func(ctx context.Context, e eventlog.Envelope[TripBooked]) (saga.Start[Trip], error) {
			return saga.Start[Trip]{CorrelationID: e.Data.TripID, State: Trip{ID: e.Data.TripID}}, nil
		}),
		saga.Step("flight", func(ctx context.Context, sc *saga.StepContext[Trip]) error {
			sc.State.Steps = append(sc.State.Steps, "flight booked")
			return nil
		}, saga.Compensate(func(ctx context.Context, sc *saga.StepContext[Trip]) error {
			sc.State.Steps = append(sc.State.Steps, "flight cancelled")
			return nil
		})),
		saga.Step("car", func(ctx context.Context, sc *saga.StepContext[Trip]) error {
			return saga.Permanent(errors.New("no cars left")) // no retries: compensate now
		}),
	)

	finished := make(chan saga.Instance, 1)
	x, err := saga.NewExecutor(saga.ExecutorConfig{Store: store, Log: log, Logger: quiet,
		Hooks: saga.Hooks{Transition: func(_, after saga.Instance, _ saga.HistoryEntry) {
			if after.Status.Terminal() {
				finished <- after
			}
		}}}, trip)
	if err != nil {
		fmt.Println(err)
		return
	}
	starts, err := saga.Subscription(store, trip)
	if err != nil {
		fmt.Println(err)
		return
	}
	w, err := worker.New(worker.Config{Log: log, Checkpoints: checkpoint.NewMemory(), Logger: quiet,
		Hooks: worker.Hooks{Committed: func(string, int, eventlog.Position, int) { x.Wake() }}}, starts)
	if err != nil {
		fmt.Println(err)
		return
	}
	e, _ := eventlog.Encode(TripBooked{TripID: "t-1"})
	log.Append(ctx, "trip-t-1", eventlog.NoStream, e)

	runCtx, stop := context.WithCancel(ctx)
	wDone, xDone := make(chan error, 1), make(chan error, 1)
	go func() { wDone <- w.Run(runCtx) }()
	go func() { xDone <- x.Run(runCtx) }()
	inst := <-finished
	stop()
	<-wDone
	<-xDone
	fmt.Println(inst.Status, string(inst.State))
	// Output: compensated {"id":"t-1","steps":["flight booked","flight cancelled"]}
}
