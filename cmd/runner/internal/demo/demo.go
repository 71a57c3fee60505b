// Package demo is `runner demo`: the orders example end to end, on a
// throwaway embedded PostgreSQL when no database is given. It lives beside
// the runner so that the example itself links no embedded launcher.
package demo

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/causewayhq/causeway/examples/orders"
	"github.com/causewayhq/causeway/internal/pgembed"
	"github.com/causewayhq/causeway/runtime"
	"github.com/causewayhq/causeway/saga"
)

// Schema holds Causeway's tables in the demo.
const Schema = "causeway_demo"

// Options tune Run.
type Options struct {
	Orders        int    // how many orders to place (default 24)
	DeclinedEvery int    // every n-th order pays with the declined card (default 4)
	DatabaseURL   string // "" = a throwaway embedded PostgreSQL
	Out           io.Writer
	Progress      io.Writer // replay progress (default Out)
}

// Command is `demo` for a runner binary.
func Command() runtime.Command {
	return runtime.Command{
		Name:    "demo",
		Summary: "run the orders example end to end (embedded PostgreSQL unless DATABASE_URL is set)",
		Run: func(ctx context.Context, args []string) error {
			fs := flag.NewFlagSet("runner demo", flag.ContinueOnError)
			fs.SetOutput(os.Stdout) // --help prints the flags
			opts := Options{DatabaseURL: os.Getenv("DATABASE_URL"), Out: os.Stdout, Progress: os.Stderr}
			fs.IntVar(&opts.Orders, "orders", 24, "orders to place")
			fs.IntVar(&opts.DeclinedEvery, "declined-every", 4, "every n-th order's card is declined (its saga compensates)")
			if rest, err := runtime.ParseFlags(fs, args); err != nil {
				return err
			} else if len(rest) > 0 {
				return fmt.Errorf("%w: unexpected arguments %q", runtime.ErrUsage, rest)
			}
			return Run(ctx, opts)
		},
	}
}

// Demo places orders, waits for every saga to finish, prints the outcomes
// and the read model, replays the projection and checks the rebuilt read
// model is identical. It returns an error if anything is not as it must be.
func Run(ctx context.Context, opts Options) error {
	if opts.Orders <= 0 {
		opts.Orders = 24
	}
	if opts.DeclinedEvery <= 0 {
		opts.DeclinedEvery = 4
	}
	if opts.Out == nil {
		opts.Out = os.Stdout
	}
	if opts.Progress == nil {
		opts.Progress = opts.Out
	}
	out := opts.Out
	fmt.Fprintln(out, "Causeway demo: order fulfilment — a saga with compensation, and a read model")
	start := time.Now()

	url := opts.DatabaseURL
	if url == "" {
		fmt.Fprintln(out, "· DATABASE_URL is not set: starting a throwaway PostgreSQL from this machine's binaries")
		c, err := pgembed.Start(ctx, pgembed.Options{})
		if err != nil {
			return err
		}
		defer c.Close()
		url = c.URL("")
		fmt.Fprintf(out, "  started on port %d (removed when the demo ends)\n", c.Port())
	} else {
		fmt.Fprintln(out, "· using DATABASE_URL; the demo resets the schemas "+Schema+" and "+orders.Schema)
	}

	cfg, err := runtime.ConfigFromEnv()
	if err != nil {
		return err
	}
	cfg.DatabaseURL, cfg.Schema, cfg.HTTPAddr, cfg.LogLevel = url, Schema, "off", "error"
	cfg.LeaseTTL = 5 * time.Second
	app := orders.App()
	r, err := runtime.Open(ctx, app, cfg)
	if err != nil {
		return err
	}
	defer r.Close()
	if _, err := r.Pool().Exec(ctx, `DROP SCHEMA IF EXISTS `+Schema+` CASCADE; DROP SCHEMA IF EXISTS `+orders.Schema+` CASCADE`); err != nil {
		return err
	}
	if _, err := r.Migrate(ctx); err != nil {
		return err
	}
	fmt.Fprintf(out, "· migrated schema %s; registered projection order_summary, saga order_fulfilment and queue customer-emails\n", Schema)

	runCtx, stop := context.WithCancel(ctx)
	runErr := make(chan error, 1)
	go func() { runErr <- r.Run(runCtx) }()
	defer func() {
		stop()
		<-runErr
	}()

	// Place the orders.
	items := []struct {
		sku   string
		price float64
	}{{"sku-kettle", 35}, {"sku-teapot", 22.5}, {"sku-mug", 8}}
	customers := []string{"ann", "bob", "chen", "dana", "emil"}
	placed := make([]orders.OrderPlaced, 0, opts.Orders)
	for i := 0; i < opts.Orders; i++ {
		it := items[i%len(items)]
		qty := 1 + i%3
		o := orders.OrderPlaced{OrderID: fmt.Sprintf("%04d", i+1), Customer: customers[i%len(customers)], SKU: it.sku,
			Quantity: qty, Total: it.price * float64(qty), Card: "4242-4242-4242-4242"}
		if (i+1)%opts.DeclinedEvery == 0 {
			o.Card = orders.DeclinedCard
		}
		if _, err := orders.Place(ctx, r.Log, o); err != nil {
			return err
		}
		placed = append(placed, o)
	}
	fmt.Fprintf(out, "· placed %d orders (every %d-th with a card the payment provider declines)\n", len(placed), opts.DeclinedEvery)

	// Wait for every saga to finish, then for the read model to catch up.
	if err := waitFor(ctx, runErr, 60*time.Second, "every saga to finish", func() (bool, error) {
		n, err := r.Sagas.Count(ctx, "order_fulfilment")
		return n[saga.StatusCompleted]+n[saga.StatusCompensated]+n[saga.StatusFailed] == len(placed), err
	}); err != nil {
		return err
	}
	if err := waitFor(ctx, runErr, 60*time.Second, "the read model to catch up", func() (bool, error) {
		var n int
		err := r.Pool().QueryRow(ctx, `SELECT count(*) FROM `+orders.Schema+`.order_summary WHERE status IN ('shipped', 'cancelled')`).Scan(&n)
		return n == len(placed), err
	}); err != nil {
		return err
	}
	// The saga's ship step and its last compensation enqueue a customer
	// email each; the email consumer sends them (into a table).
	if err := waitFor(ctx, runErr, 60*time.Second, "every customer email to be sent", func() (bool, error) {
		var n int
		err := r.Pool().QueryRow(ctx, `SELECT count(*) FROM `+orders.Schema+`.emails_sent`).Scan(&n)
		return n >= len(placed), err
	}); err != nil {
		return err
	}
	fmt.Fprintf(out, "· all sagas finished, the read model caught up and the customer emails went out in %s\n\n", time.Since(start).Round(time.Millisecond))

	problems, err := printOutcomes(ctx, r, placed, out)
	if err != nil {
		return err
	}
	before, err := readModel(ctx, r)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "\nRead model (projection order_summary):")
	fmt.Fprint(out, before)

	// Replay the projection and compare.
	fmt.Fprintln(out, "\n· replaying projection order_summary from the start")
	res, err := r.Ops().Replay(ctx, "order_summary", true, opts.Progress)
	if err != nil {
		return err
	}
	after, err := readModel(ctx, r)
	if err != nil {
		return err
	}
	if after != before {
		problems = append(problems, "the replayed read model differs from the original:\n"+after)
	} else {
		fmt.Fprintf(out, "· replayed %d events in %s: the rebuilt read model is identical\n", res.Events, res.Duration.Round(time.Millisecond))
	}
	if len(problems) > 0 {
		return fmt.Errorf("demo found problems:\n- %s", strings.Join(problems, "\n- "))
	}
	fmt.Fprintf(out, "\nDemo finished in %s: every order is shipped or compensated as expected.\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// waitFor polls cond until it holds, the runtime fails, or the timeout.
func waitFor(ctx context.Context, runErr chan error, timeout time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case err := <-runErr:
			runErr <- err
			return fmt.Errorf("the runtime stopped while waiting for %s: %v", what, err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v waiting for %s", timeout, what)
		}
	}
}

// printOutcomes prints each order's saga outcome and checks it against what
// the card should have caused.
func printOutcomes(ctx context.Context, r *runtime.Runtime, placed []orders.OrderPlaced, out io.Writer) ([]string, error) {
	var problems []string
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ORDER\tCUSTOMER\tITEMS\tTOTAL\tCARD\tSAGA\tEMAIL\tSTEPS")
	for _, o := range placed {
		d, err := r.Ops().Saga(ctx, saga.InstanceID("order_fulfilment", o.OrderID))
		if err != nil {
			return nil, err
		}
		var steps []string
		for _, h := range d.History {
			mark := "✓"
			if h.Outcome != saga.OutcomeCompleted {
				mark = "✗"
			}
			name := h.Step
			if h.Phase == saga.PhaseCompensation {
				name = "undo " + name
			}
			steps = append(steps, name+" "+mark)
		}
		card, mail := "ok", "shipped"
		want := saga.StatusCompleted
		if o.Card == orders.DeclinedCard {
			card, mail, want = "declined", "cancelled", saga.StatusCompensated
		}
		if d.Status != want {
			problems = append(problems, fmt.Sprintf("order %s: saga %s, want %s", o.OrderID, d.Status, want))
		}
		var sent string
		if err := r.Pool().QueryRow(ctx, `SELECT coalesce(string_agg(kind, ',' ORDER BY kind), '') FROM `+orders.Schema+`.emails_sent WHERE order_id = $1`,
			o.OrderID).Scan(&sent); err != nil {
			return nil, err
		}
		if sent != mail {
			problems = append(problems, fmt.Sprintf("order %s: emails sent %q, want one %q", o.OrderID, sent, mail))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d × %s\t%.2f\t%s\t%s\t%s\t%s\n", o.OrderID, o.Customer, o.Quantity, strings.TrimPrefix(o.SKU, "sku-"),
			o.Total, card, d.Status, sent, strings.Join(steps, ", "))
	}
	if err := tw.Flush(); err != nil {
		return nil, err
	}
	// The warehouse must have given back every compensated reservation.
	var reserved, shipped int
	if err := r.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM `+orders.Schema+`.warehouse_reservations), (SELECT count(*) FROM `+orders.Schema+`.shipments)`).Scan(&reserved, &shipped); err != nil {
		return nil, err
	}
	if reserved != shipped {
		problems = append(problems, fmt.Sprintf("%d stock reservations held for %d shipments: compensation did not release stock", reserved, shipped))
	}
	return problems, nil
}

// readModel renders the read model tables.
func readModel(ctx context.Context, r *runtime.Runtime) (string, error) {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CUSTOMER\tORDERS\tSHIPPED\tCANCELLED\tSPENT")
	rows, err := r.Pool().Query(ctx, `SELECT customer, orders, shipped, cancelled, spent::text FROM `+orders.Schema+`.customer_summary ORDER BY customer`)
	if err != nil {
		return "", err
	}
	for rows.Next() {
		var c, spent string
		var count, shippedN, cancelled int
		if err := rows.Scan(&c, &count, &shippedN, &cancelled, &spent); err != nil {
			rows.Close()
			return "", err
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", c, count, shippedN, cancelled, spent)
	}
	rows.Close()
	fmt.Fprintln(tw, "\nORDER\tCUSTOMER\tTOTAL\tSTATUS\tTRACKING")
	rows, err = r.Pool().Query(ctx, `SELECT order_id, customer, total::text, status, tracking FROM `+orders.Schema+`.order_summary ORDER BY order_id`)
	if err != nil {
		return "", err
	}
	for rows.Next() {
		var id, c, total, status, tracking string
		if err := rows.Scan(&id, &c, &total, &status, &tracking); err != nil {
			rows.Close()
			return "", err
		}
		if tracking == "" {
			tracking = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", id, c, total, status, tracking)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", err
	}
	err = tw.Flush()
	return b.String(), err
}
