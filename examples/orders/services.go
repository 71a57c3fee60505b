package orders

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/saga"
)

// ErrCardDeclined is the payment provider refusing a card: permanent.
var ErrCardDeclined = errors.New("card declined")

// ErrOutOfStock is the warehouse refusing a reservation: permanent.
var ErrOutOfStock = errors.New("out of stock")

// services simulates the warehouse, payment provider and courier in
// PostgreSQL. Every call is idempotent on its key, as a real provider's
// idempotency-key API would be.
type services struct {
	pool   *pgxpool.Pool
	schema string
}

func (s *services) t(name string) string { return s.schema + "." + name }

// reserve takes stock for an order once per key.
func (s *services) reserve(ctx context.Context, key, sku string, qty int) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	tag, err := tx.Exec(ctx, `INSERT INTO `+s.t("warehouse_reservations")+` (key, sku, quantity) VALUES ($1, $2, $3)
		ON CONFLICT (key) DO NOTHING`, key, sku, qty)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return tx.Commit(ctx) // already reserved by an earlier attempt
	}
	tag, err = tx.Exec(ctx, `UPDATE `+s.t("warehouse_stock")+` SET available = available - $2 WHERE sku = $1 AND available >= $2`, sku, qty)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return saga.Permanent(fmt.Errorf("%w: %d × %s", ErrOutOfStock, qty, sku))
	}
	return tx.Commit(ctx)
}

// release gives back what reserve took (the reservation's key), once.
func (s *services) release(ctx context.Context, reservationKey string) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	var sku string
	var qty int
	err = tx.QueryRow(ctx, `DELETE FROM `+s.t("warehouse_reservations")+` WHERE key = $1 RETURNING sku, quantity`, reservationKey).Scan(&sku, &qty)
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // never reserved, or already released
		}
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE `+s.t("warehouse_stock")+` SET available = available + $2 WHERE sku = $1`, sku, qty); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// charge charges a card once per key.
func (s *services) charge(ctx context.Context, key, card string, amount float64) (string, error) {
	if card == DeclinedCard {
		return "", saga.Permanent(ErrCardDeclined)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO `+s.t("payments")+` (key, amount, refunded) VALUES ($1, $2, false)
		ON CONFLICT (key) DO NOTHING`, key, amount)
	return "ch_" + key[:8], err
}

// refund refunds the charge made under chargeKey, once.
func (s *services) refund(ctx context.Context, chargeKey string) error {
	_, err := s.pool.Exec(ctx, `UPDATE `+s.t("payments")+` SET refunded = true WHERE key = $1`, chargeKey)
	return err
}

// ship books a courier once per key.
func (s *services) ship(ctx context.Context, key, orderID string) (string, error) {
	_, err := s.pool.Exec(ctx, `INSERT INTO `+s.t("shipments")+` (key, order_id) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, key, orderID)
	return "trk_" + key[:8], err
}
