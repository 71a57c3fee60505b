package orders

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/runtime"
)

// Place appends an OrderPlaced event for a new order and returns its id.
func Place(ctx context.Context, log eventlog.Store, o OrderPlaced) (string, error) {
	if o.OrderID == "" {
		o.OrderID = uuid.NewString()[:8]
	}
	if o.Customer == "" || o.SKU == "" || o.Quantity <= 0 || o.Total <= 0 {
		return "", fmt.Errorf("orders: an order needs a customer, a SKU, a positive quantity and a positive total")
	}
	e, err := eventlog.Encode(o)
	if err != nil {
		return "", err
	}
	e.Metadata.CorrelationID = o.OrderID
	if _, err := log.Append(ctx, Stream(o.OrderID), eventlog.NoStream, e); err != nil {
		return "", err
	}
	return o.OrderID, nil
}

func placeOrderCommand() runtime.Command {
	return runtime.Command{
		Name:    "place-order",
		Summary: "append an OrderPlaced event (starts the fulfilment saga)",
		Run: func(ctx context.Context, args []string) error {
			fs := flag.NewFlagSet("orders place-order", flag.ContinueOnError)
			fs.SetOutput(os.Stdout) // --help prints the flags
			var o OrderPlaced
			fs.StringVar(&o.OrderID, "id", "", "order id (default: random)")
			fs.StringVar(&o.Customer, "customer", "", "customer name")
			fs.StringVar(&o.SKU, "sku", "sku-kettle", "SKU: sku-kettle, sku-teapot or sku-mug")
			fs.IntVar(&o.Quantity, "qty", 1, "quantity")
			fs.Float64Var(&o.Total, "total", 0, "order total")
			fs.StringVar(&o.Card, "card", "4242-4242-4242-4242", "card number ("+DeclinedCard+" is declined)")
			if rest, err := runtime.ParseFlags(fs, args); err != nil {
				return err
			} else if len(rest) > 0 {
				return fmt.Errorf("%w: unexpected arguments %q", runtime.ErrUsage, rest)
			}
			r, err := openRuntime(ctx)
			if err != nil {
				return err
			}
			defer r.Close()
			id, err := Place(ctx, r.Log, o)
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stdout, "order %s placed\n", id)
			return nil
		},
	}
}

// openRuntime opens the app's runtime as configured by the environment
// (DATABASE_URL and CAUSEWAY_*), for the example's own commands.
func openRuntime(ctx context.Context) (*runtime.Runtime, error) {
	cfg, err := runtime.ConfigFromEnv()
	if err != nil {
		return nil, err
	}
	return runtime.Open(ctx, App(), cfg)
}
