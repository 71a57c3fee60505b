package worker_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/eventlog/memory"
	"github.com/causewayhq/causeway/worker"
)

// Deposited names its event type once; handlers and appends infer it.
type Deposited struct {
	Account string `json:"account"`
	Amount  int    `json:"amount"`
}

func (Deposited) EventType() string { return "Deposited" }

// A subscription with a typed handler, run on the memory stores.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	log := memory.New(memory.Options{})
	defer log.Close()

	totals := map[string]int{}
	handled := make(chan struct{}, 3)
	deposits := worker.NewSubscription("deposit_totals",
		worker.Partitions(1),
		worker.On(func(ctx context.Context, d *worker.Delivery, e eventlog.Envelope[Deposited]) error {
			totals[e.Data.Account] += e.Data.Amount // one partition: handled one at a time
			handled <- struct{}{}
			return nil
		}),
	)
	w, err := worker.New(worker.Config{Log: log, Checkpoints: checkpoint.NewMemory(), Logger: slog.New(slog.DiscardHandler)}, deposits)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range []Deposited{{"ann", 20}, {"bob", 5}, {"ann", 12}} {
		e, _ := eventlog.Encode(d)
		log.Append(ctx, "account-"+d.Account, eventlog.Any, e)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	for range 3 {
		<-handled
	}
	stop()
	<-done
	fmt.Println(totals["ann"], totals["bob"])
	// Output: 32 5
}
