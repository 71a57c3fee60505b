package testkit_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/runtime/testkit"
	"github.com/causewayhq/causeway/saga"
)

// Order starts the example's saga.
type Order struct {
	ID string `json:"id"`
}

// Order declares its event type name.
func (Order) EventType() string { return "OrderPlaced" }

// A saga whose payment step fails once: the retry comes when the clock
// reaches its backoff, and the saga completes.
func Example() {
	t := &exampleT{} // in a test: the test's *testing.T
	defer t.finish()
	ctx := context.Background()

	charges := 0
	def := saga.New[Order]("checkout",
		saga.StartOn(func(ctx context.Context, e eventlog.Envelope[Order]) (saga.Start[Order], error) {
			return saga.Start[Order]{CorrelationID: e.Data.ID, State: e.Data}, nil
		}),
		saga.Step("charge", func(ctx context.Context, sc *saga.StepContext[Order]) error {
			if charges++; charges == 1 {
				return errors.New("payment provider unavailable")
			}
			e, _ := eventlog.NewEvent("OrderPaid", map[string]string{"id": sc.State.ID})
			sc.Emit("order-"+sc.CorrelationID, eventlog.Any, e)
			return nil
		}, saga.Retry(saga.RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Minute})),
	)

	k := testkit.NewSaga[Order](t, def, testkit.WithLogger(discard))
	k.Publish(ctx, "order-42", Order{ID: "42"})
	k.RunUntilIdle(ctx)
	fmt.Println(k.Status("42"), charges)

	k.Advance(ctx, time.Minute)
	fmt.Println(k.Status("42"), charges, testkit.Types(k.Emitted()))
	// Output:
	// running 1
	// completed 2 [OrderPaid]
}

// exampleT stands in for the *testing.T an example has not got: it runs
// the kit's cleanups at the end, and stops the example on a failure.
type exampleT struct {
	testing.TB // only the methods below are used
	cleanups   []func()
}

func (t *exampleT) Helper()                           {}
func (t *exampleT) Log(args ...any)                   {}
func (t *exampleT) Cleanup(f func())                  { t.cleanups = append(t.cleanups, f) }
func (t *exampleT) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

func (t *exampleT) finish() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}
