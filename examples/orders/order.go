package orders

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/runtime"
)

// Order is an order as its stream tells it, folded by OrderFold: what a
// command about an existing order decides from.
type Order struct {
	Placed          OrderPlaced
	Shipped         bool
	Cancelled       bool
	ReturnRequested bool
}

// OrderFold folds an order's stream. Types it does not need (stock,
// payment) are ignored: the decisions below depend on none of them.
var OrderFold = eventlog.NewFold(
	eventlog.Evolve(func(o Order, e eventlog.Envelope[OrderPlaced]) Order { o.Placed = e.Data; return o }),
	eventlog.Evolve(func(o Order, _ eventlog.Envelope[OrderShipped]) Order { o.Shipped = true; return o }),
	eventlog.Evolve(func(o Order, _ eventlog.Envelope[OrderCancelled]) Order { o.Cancelled = true; return o }),
	eventlog.Evolve(func(o Order, _ eventlog.Envelope[ReturnRequested]) Order { o.ReturnRequested = true; return o }),
	eventlog.IgnoreUnknown[Order](),
)

// ErrNotReturnable: the order is unknown, not shipped (yet, or ever), or
// already on its way back.
var ErrNotReturnable = errors.New("orders: order cannot be returned")

// RequestReturn records that the customer sends a shipped order back. It
// decides from the order's stream (OrderFold) and appends at the version it
// read, so two requests at once cannot both succeed: the second gets
// eventlog.ErrWrongExpectedVersion, and on a retry, ErrNotReturnable.
func RequestReturn(ctx context.Context, log eventlog.Store, orderID, reason string) error {
	_, err := OrderFold.Decide(ctx, log, Stream(orderID), func(ctx context.Context, o Order) ([]eventlog.Named, error) {
		switch {
		case o.Placed.OrderID == "":
			return nil, fmt.Errorf("%w: no order %q", ErrNotReturnable, orderID)
		case !o.Shipped:
			return nil, fmt.Errorf("%w: order %s has not shipped", ErrNotReturnable, orderID)
		case o.ReturnRequested:
			return nil, fmt.Errorf("%w: order %s is already being returned", ErrNotReturnable, orderID)
		}
		return []eventlog.Named{ReturnRequested{OrderID: orderID, Customer: o.Placed.Customer, Reason: reason}}, nil
	}, eventlog.WithMetadata(eventlog.Metadata{CorrelationID: orderID}))
	return err
}

func requestReturnCommand() runtime.Command {
	return runtime.Command{
		Name:    "request-return",
		Summary: "record that a shipped order is being returned: request-return ORDER_ID",
		Run: func(ctx context.Context, args []string) error {
			fs := flag.NewFlagSet("orders request-return", flag.ContinueOnError)
			fs.SetOutput(os.Stdout)
			reason := fs.String("reason", "changed my mind", "why the customer returns it")
			rest, err := runtime.ParseFlags(fs, args)
			if err != nil {
				return err
			}
			if len(rest) != 1 {
				return fmt.Errorf("%w: request-return ORDER_ID", runtime.ErrUsage)
			}
			r, err := openRuntime(ctx)
			if err != nil {
				return err
			}
			defer r.Close()
			if err := RequestReturn(ctx, r.Reader(), rest[0], *reason); err != nil {
				return err
			}
			fmt.Fprintf(os.Stdout, "return of order %s requested\n", rest[0])
			return nil
		},
	}
}
