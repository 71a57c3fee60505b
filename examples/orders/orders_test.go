package orders_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/examples/orders"
	"github.com/causewayhq/causeway/runtime/testkit"
	"github.com/causewayhq/causeway/saga"
)

// The fulfilment saga runs on the test kit's memory stores and clock; the
// simulated services it calls, and the read model, are tables in a
// database of the test's own.

func TestMain(m *testing.M) { testkit.Main(m) }

func servicesDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool := testkit.Database(t)
	if err := orders.SetupServices(t.Context(), pool); err != nil {
		t.Fatal(err)
	}
	return pool
}

func placed(id, card string) orders.OrderPlaced {
	return orders.OrderPlaced{OrderID: id, Customer: "ada", SKU: "sku-mug", Quantity: 2, Total: 24, Card: card}
}

func queryInt(t *testing.T, db *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

const mugs = `SELECT available FROM orders_app.warehouse_stock WHERE sku = 'sku-mug'`

func TestOrderShipped(t *testing.T) {
	ctx := t.Context()
	db := servicesDB(t)
	k := testkit.NewSaga[orders.Fulfilment](t, orders.FulfilmentSaga(db), testkit.DeclareQueue(orders.EmailsQueue))
	k.Publish(ctx, orders.Stream("o1"), placed("o1", "4242-4242-4242-4242"))
	k.RunUntilIdle(ctx)

	inst := k.Instance("o1")
	if inst.Status != saga.StatusCompleted || inst.State.Tracking == "" {
		t.Fatalf("status %s, tracking %q; want completed with a tracking number", inst.Status, inst.State.Tracking)
	}
	if got, want := k.Completed("o1"), []string{"reserve_stock", "charge_payment", "ship"}; !slices.Equal(got, want) {
		t.Fatalf("completed %v, want %v", got, want)
	}
	emitted := k.Emitted()
	if got, want := testkit.Types(emitted), []string{orders.StockReserved{}.EventType(), orders.PaymentCharged{}.EventType(), orders.OrderShipped{}.EventType()}; !slices.Equal(got, want) {
		t.Fatalf("emitted %v, want %v", got, want)
	}
	if n := queryInt(t, db, mugs); n != 4998 {
		t.Fatalf("%d mugs left, want 4998", n)
	}
	if got := emails(t, k); !slices.Equal(got, []string{"shipped o1 " + inst.State.Tracking}) {
		t.Fatalf("emails %v, want one shipping notice with the tracking number", got)
	}

	// The read model, built from the order's stream as the saga left it.
	pk := testkit.NewProjection(t, orders.SummaryProjection(), db)
	for e, err := range k.Log().ReadAll(ctx, eventlog.Position{}, eventlog.Filter{}) {
		if err != nil {
			t.Fatal(err)
		}
		pk.Publish(ctx, e.StreamID, eventlog.EventData{ID: e.ID, Type: e.Type, Data: e.Data, Metadata: e.Metadata})
	}
	pk.RunUntilIdle(ctx)
	var status string
	if err := db.QueryRow(ctx, `SELECT status FROM orders_app.order_summary WHERE order_id = 'o1'`).Scan(&status); err != nil {
		t.Fatal(err)
	}
	if status != "shipped" || queryInt(t, db, `SELECT shipped FROM orders_app.customer_summary WHERE customer = 'ada'`) != 1 {
		t.Fatalf("order status %q; want shipped, and one shipped order for the customer", status)
	}
}

func TestDeclinedCardCancelsTheOrder(t *testing.T) {
	ctx := t.Context()
	db := servicesDB(t)
	k := testkit.NewSaga[orders.Fulfilment](t, orders.FulfilmentSaga(db), testkit.DeclareQueue(orders.EmailsQueue))
	k.Publish(ctx, orders.Stream("o1"), placed("o1", orders.DeclinedCard))
	k.RunUntilIdle(ctx)

	inst := k.Instance("o1")
	// A declined card is permanent: one attempt, no retry.
	if inst.Status != saga.StatusCompensated || inst.StepAttempts("charge_payment", false) != 1 {
		t.Fatalf("status %s after %d charge attempts; want compensated after 1", inst.Status, inst.StepAttempts("charge_payment", false))
	}
	if got, want := k.Compensated("o1"), []string{"reserve_stock"}; !slices.Equal(got, want) {
		t.Fatalf("compensated %v, want %v (nothing was charged)", got, want)
	}
	want := []string{orders.StockReserved{}.EventType(), orders.StockReleased{}.EventType(), orders.OrderCancelled{}.EventType()}
	if got := testkit.Types(k.Emitted()); !slices.Equal(got, want) {
		t.Fatalf("emitted %v, want %v", got, want)
	}
	if n := queryInt(t, db, mugs); n != 5000 {
		t.Fatalf("%d mugs, want all 5000 back", n)
	}
	if n := queryInt(t, db, `SELECT count(*) FROM orders_app.payments`); n != 0 {
		t.Fatalf("%d payments, want none", n)
	}
	if got := emails(t, k); !slices.Equal(got, []string{"cancelled o1 "}) {
		t.Fatalf("emails %v, want one cancellation", got)
	}
}

// courier takes the simulated courier off line (its table away) or back.
func courier(t *testing.T, db *pgxpool.Pool, online bool) {
	t.Helper()
	sql := `ALTER TABLE orders_app.shipments RENAME TO shipments_offline`
	if online {
		sql = `ALTER TABLE orders_app.shipments_offline RENAME TO shipments`
	}
	if _, err := db.Exec(t.Context(), sql); err != nil {
		t.Fatal(err)
	}
}

// The courier is down for a moment: the ship step fails, is retried after
// its backoff — when the clock says so — and the order ships.
func TestFlakyCourierIsRetried(t *testing.T) {
	ctx := t.Context()
	db := servicesDB(t)
	k := testkit.NewSaga[orders.Fulfilment](t, orders.FulfilmentSaga(db), testkit.DeclareQueue(orders.EmailsQueue))
	courier(t, db, false)
	k.Publish(ctx, orders.Stream("o1"), placed("o1", "4242-4242-4242-4242"))
	k.RunUntilIdle(ctx)

	inst := k.Instance("o1")
	if inst.Status != saga.StatusRunning || inst.StepAttempts("ship", false) != 1 || inst.LastError == "" {
		t.Fatalf("status %s, %d ship attempts, last error %q; want running after one failed attempt", inst.Status, inst.StepAttempts("ship", false), inst.LastError)
	}
	backoff := inst.NextAttemptAt.Sub(k.Clock().Now())
	if backoff <= 0 {
		t.Fatalf("next attempt at %v, not after now %v", inst.NextAttemptAt, k.Clock().Now())
	}
	courier(t, db, true)
	k.Advance(ctx, backoff)
	inst = k.Instance("o1")
	if inst.Status != saga.StatusCompleted || inst.StepAttempts("ship", false) != 2 {
		t.Fatalf("status %s after %d ship attempts; want completed after 2", inst.Status, inst.StepAttempts("ship", false))
	}
	if n := queryInt(t, db, `SELECT count(*) FROM orders_app.shipments`); n != 1 {
		t.Fatalf("%d shipments, want 1", n)
	}
}

// The courier stays down: the ship step runs out of retries and the saga
// undoes what it did in reverse — refund, then release — and cancels the
// order.
func TestCourierDownCompensatesInReverse(t *testing.T) {
	ctx := t.Context()
	db := servicesDB(t)
	k := testkit.NewSaga[orders.Fulfilment](t, orders.FulfilmentSaga(db), testkit.DeclareQueue(orders.EmailsQueue))
	courier(t, db, false)
	k.Publish(ctx, orders.Stream("o1"), placed("o1", "4242-4242-4242-4242"))
	k.RunUntilIdle(ctx)
	k.Advance(ctx, time.Minute) // long past every backoff of the step's policy

	inst := k.Instance("o1")
	if inst.Status != saga.StatusCompensated || inst.StepAttempts("ship", false) != 3 {
		t.Fatalf("status %s after %d ship attempts; want compensated after 3", inst.Status, inst.StepAttempts("ship", false))
	}
	if got, want := k.Compensated("o1"), []string{"charge_payment", "reserve_stock"}; !slices.Equal(got, want) {
		t.Fatalf("compensated %v, want %v", got, want)
	}
	want := []string{orders.StockReserved{}.EventType(), orders.PaymentCharged{}.EventType(),
		orders.PaymentRefunded{}.EventType(), orders.StockReleased{}.EventType(), orders.OrderCancelled{}.EventType()}
	if got := testkit.Types(k.Emitted()); !slices.Equal(got, want) {
		t.Fatalf("emitted %v, want %v", got, want)
	}
	if n := queryInt(t, db, `SELECT count(*) FROM orders_app.payments WHERE refunded`); n != 1 {
		t.Fatalf("%d refunded payments, want 1", n)
	}
	if n := queryInt(t, db, mugs); n != 5000 {
		t.Fatalf("%d mugs, want all 5000 back", n)
	}
	// Three ship attempts failed, none recorded an email; the release did.
	if got := emails(t, k); !slices.Equal(got, []string{"cancelled o1 "}) {
		t.Fatalf("emails %v, want one cancellation and no shipping notice", got)
	}
}

// emails lists the customer emails the saga's steps enqueued, as "kind
// order tracking".
func emails(t *testing.T, k *testkit.SagaKit[orders.Fulfilment]) []string {
	t.Helper()
	var out []string
	for _, m := range k.Enqueued(orders.EmailsQueue) {
		var e orders.Email
		if err := json.Unmarshal(m.Payload, &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e.Kind+" "+e.OrderID+" "+e.Tracking)
	}
	return out
}
