package orders

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/projection"
	"github.com/causewayhq/causeway/runtime"
	"github.com/causewayhq/causeway/saga"
	"github.com/causewayhq/causeway/worker/queue"
)

// Schema holds the example's own tables: the read model and the simulated
// warehouse, payment provider and courier.
const Schema = "orders_app"

// SKUs the demo warehouse stocks, with their starting quantities.
var stock = map[string]int{"sku-kettle": 1000, "sku-teapot": 1000, "sku-mug": 5000}

// App returns the order-fulfilment application.
func App() runtime.App {
	svc := &services{schema: Schema}
	return runtime.App{
		Name:        "orders",
		Projections: []*projection.Projection{newProjection(Schema)},
		Sagas:       []saga.Saga{newSaga(svc)},
		Queues:      []queue.Declaration{EmailsDeclaration()},
		Consumers:   []queue.Consumer{emailSender(svc)},
		Setup:       setupServices,
		OnOpen: func(r *runtime.Runtime) error {
			svc.pool = r.Pool()
			return nil
		},
		Commands: []runtime.Command{placeOrderCommand(), requestReturnCommand()},
	}
}

// setupServices creates the simulated services' tables.
func setupServices(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `
		CREATE SCHEMA IF NOT EXISTS `+Schema+`;
		CREATE TABLE IF NOT EXISTS `+Schema+`.warehouse_stock (sku text PRIMARY KEY, available int NOT NULL CHECK (available >= 0));
		CREATE TABLE IF NOT EXISTS `+Schema+`.warehouse_reservations (key text PRIMARY KEY, sku text NOT NULL, quantity int NOT NULL);
		CREATE TABLE IF NOT EXISTS `+Schema+`.payments (key text PRIMARY KEY, amount numeric(12,2) NOT NULL, refunded boolean NOT NULL);
		CREATE TABLE IF NOT EXISTS `+Schema+`.shipments (key text PRIMARY KEY, order_id text NOT NULL);
		CREATE TABLE IF NOT EXISTS `+Schema+`.emails_sent (message_id uuid PRIMARY KEY, order_id text NOT NULL,
			customer text NOT NULL, kind text NOT NULL, tracking text NOT NULL DEFAULT '')`)
	if err != nil {
		return err
	}
	for sku, n := range stock {
		if _, err := tx.Exec(ctx, `INSERT INTO `+Schema+`.warehouse_stock VALUES ($1, $2) ON CONFLICT DO NOTHING`, sku, n); err != nil {
			return err
		}
	}
	return nil
}
