package ops_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/runtime"
	"github.com/causewayhq/causeway/runtime/ops"
	"github.com/causewayhq/causeway/worker"
)

// InvoiceIssued names its event type once.
type InvoiceIssued struct {
	Amount int `json:"amount"`
}

func (InvoiceIssued) EventType() string { return "InvoiceIssued" }

// What an operator does, from any process: the status of every
// subscription, its dead letters, and a discard. A runtime's Ops is what
// the command line and the HTTP API act through.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	invoices := worker.NewSubscription("invoices", worker.Partitions(1),
		worker.On(func(ctx context.Context, d *worker.Delivery, e eventlog.Envelope[InvoiceIssued]) error {
			if e.Data.Amount < 0 {
				return worker.Permanent(errors.New("negative amount"))
			}
			return nil
		}))
	cfg, err := runtime.ConfigFromEnv() // DATABASE_URL, CAUSEWAY_*
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg.Schema, cfg.HTTPAddr, cfg.Logger = "ops_example", "off", slog.New(slog.DiscardHandler)
	r, err := runtime.Open(ctx, runtime.App{Name: "billing", Subscriptions: []worker.Subscription{invoices}}, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	r.Pool().Exec(ctx, `DROP SCHEMA IF EXISTS ops_example CASCADE`) // a fresh example each run
	if _, err := r.Migrate(ctx); err != nil {
		fmt.Println(err)
		return
	}
	events, _ := eventlog.EncodeAll(InvoiceIssued{Amount: 40}, InvoiceIssued{Amount: -5})
	r.Log.Append(ctx, "invoice-1", eventlog.NoStream, events...)

	// Run the subscription until the bad invoice is a dead letter.
	o := r.Ops()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	var dls []checkpoint.DeadLetter
	for len(dls) == 0 && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
		dls, _ = o.DeadLetters(ctx, checkpoint.DeadLetterQuery{Subscription: "invoices"})
	}
	stop()
	<-done

	st, err := o.Status(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range ops.NewStatusView(st, o.Registered()).Subscriptions {
		fmt.Println(s.Name, "registered:", s.Registered, "state:", s.State, "lag:", s.LagEvents, "dead letters:", s.DeadLetters)
	}
	dl := ops.NewDeadLetterView(dls[0]) // as `dlq list --json` and GET /api/dead-letters show it
	fmt.Println(dl.StreamID, dl.Version, dl.State, dl.Error)

	o.DiscardDeadLetter(ctx, "invoices", dl.ID, "alice@ops-host")
	left, _ := o.DeadLetters(ctx, checkpoint.DeadLetterQuery{Subscription: "invoices"})
	fmt.Println("after discard:", len(left))
	// Output:
	// invoices registered: true state: stopped lag: 0 dead letters: 1
	// invoice-1 2 dead permanent: negative amount
	// after discard: 0
}
