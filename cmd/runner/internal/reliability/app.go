package reliability

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/projection"
	"github.com/causewayhq/causeway/runtime"
	"github.com/causewayhq/causeway/saga"
	"github.com/causewayhq/causeway/worker"
)

// Names of the three consumers every child runs.
const (
	projName = "rel_model"      // transactional projection: table applied
	aloName  = "rel_deliveries" // at-least-once subscription: table deliveries
	sagaName = "rel_transfer"   // saga: table effects
)

// subscriptionNames are the consumer groups the oracle and settle look at.
var subscriptionNames = []string{projName, aloName, saga.SubscriptionName(sagaName)}

// handlerRetry is the projection's and the subscription's retry policy:
// quick, so flaky events (at most 2 failures) pass and poison is
// dead-lettered within a second.
var handlerRetry = worker.RetryPolicy{MaxAttempts: 4, InitialBackoff: 50 * time.Millisecond,
	MaxBackoff: 400 * time.Millisecond, JitterPercent: 20}

// consumer holds what the handlers share in one process.
type consumer struct {
	tables tables
	member string
	pool   *pgxpool.Pool // set when the runtime opens

	mu       sync.Mutex
	failures map[string]int // flaky events: injected failures so far, by subscription/event id
}

// tables names the harness's own tables, in the app schema.
type tables struct {
	schema, applied, deliveries, effects, fixes, seq string
}

func newTables(appSchema string) tables {
	q := func(name string) string { return pgx.Identifier{appSchema, name}.Sanitize() }
	return tables{schema: pgx.Identifier{appSchema}.Sanitize(), applied: q("applied"), deliveries: q("deliveries"),
		effects: q("effects"), fixes: q("fixes"), seq: q("seq")}
}

// newApp is the program the consumers run and the harness operates: one
// projection, one at-least-once subscription and one saga, registered the
// way a user registers theirs.
func newApp(appSchema, member string) (runtime.App, *consumer) {
	c := &consumer{tables: newTables(appSchema), member: member, failures: map[string]int{}}
	app := runtime.App{
		Name:          "reliability",
		Projections:   []*projection.Projection{c.projection()},
		Subscriptions: []worker.Subscription{c.subscription()},
		Sagas:         []saga.Saga{c.saga()},
		Setup:         c.setup,
		OnOpen: func(r *runtime.Runtime) error {
			c.pool = r.Pool()
			return nil
		},
	}
	return app, c
}

// setup creates the tables the at-least-once subscription and the saga
// write to, and the sequence that orders every recorded effect.
func (c *consumer) setup(ctx context.Context, tx pgx.Tx) error {
	t := c.tables
	_, err := tx.Exec(ctx, `
		CREATE SCHEMA IF NOT EXISTS `+t.schema+`;
		CREATE SEQUENCE IF NOT EXISTS `+t.seq+`;
		CREATE TABLE IF NOT EXISTS `+t.deliveries+` (
			event_id uuid NOT NULL, stream text NOT NULL, version bigint NOT NULL,
			seq bigint NOT NULL, member text NOT NULL, at timestamptz NOT NULL);
		CREATE TABLE IF NOT EXISTS `+t.effects+` (
			idem_key text PRIMARY KEY, saga_id uuid NOT NULL, corr text NOT NULL,
			step_no int NOT NULL, compensation boolean NOT NULL, runs int NOT NULL,
			first_seq bigint NOT NULL, last_seq bigint NOT NULL,
			first_member text NOT NULL, last_member text NOT NULL,
			first_at timestamptz NOT NULL, last_at timestamptz NOT NULL);
		CREATE TABLE IF NOT EXISTS `+t.fixes+` (key text PRIMARY KEY)`)
	return err
}

// projection applies each item as a row (stream, version) of its read
// model, in the batch's transaction. There is deliberately no unique key:
// an event applied twice must show up as two rows, not as an error.
func (c *consumer) projection() *projection.Projection {
	t := c.tables
	return projection.New(projName,
		projection.Categories(itemCategory),
		projection.Retry(handlerRetry),
		projection.OnSetup(func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+t.schema+`;
			CREATE SEQUENCE IF NOT EXISTS `+t.seq+`;
			CREATE TABLE IF NOT EXISTS `+t.applied+` (
				event_id uuid NOT NULL, stream text NOT NULL, version bigint NOT NULL,
				seq bigint NOT NULL, member text NOT NULL, at timestamptz NOT NULL)`)
			return err
		}),
		projection.OnReset(func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `TRUNCATE `+t.applied)
			return err
		}),
		projection.On(func(ctx context.Context, tx pgx.Tx, ev eventlog.Envelope[item]) error {
			e, v := ev.Event, ev.Data
			if err := c.injected(ctx, projName, e, v, tx); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO `+t.applied+` (event_id, stream, version, seq, member, at)
			VALUES ($1, $2, $3, nextval('`+t.seq+`'), $4, clock_timestamp())`, e.ID, e.StreamID, e.Version, c.member)
			if err != nil {
				return fmt.Errorf("apply %s v%d: %w", e.StreamID, e.Version, err)
			}
			return nil
		}),
	)
}

// subscription records every delivery in its own short transaction, so a
// re-delivery is a second row.
func (c *consumer) subscription() worker.Subscription {
	t := c.tables
	return worker.NewSubscription(aloName,
		worker.Filter(eventlog.Filter{Categories: []string{itemCategory}, Types: []string{itemType}}),
		worker.Retry(handlerRetry),
		worker.Mode(worker.AtLeastOnce),
		worker.On(func(ctx context.Context, d *worker.Delivery, ev eventlog.Envelope[item]) error {
			v, e := ev.Data, d.Event
			if err := c.injected(ctx, aloName, e, v, c.pool); err != nil {
				return err
			}
			_, err := c.pool.Exec(ctx, `INSERT INTO `+t.deliveries+` (event_id, stream, version, seq, member, at)
				VALUES ($1, $2, $3, nextval('`+t.seq+`'), $4, clock_timestamp())`, e.ID, e.StreamID, e.Version, c.member)
			if err != nil {
				return fmt.Errorf("record delivery of %s v%d: %w", e.StreamID, e.Version, err)
			}
			return nil
		}),
	)
}

// querier is a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// injected makes a poison item fail the way its payload says, and a slow
// one take its time.
func (c *consumer) injected(ctx context.Context, sub string, e eventlog.Event, v item, q querier) error {
	switch v.Poison {
	case poisonPermanent:
		return worker.Permanent(errors.New(errPermanentText))
	case poisonFlaky:
		key := sub + "/" + e.ID.String()
		c.mu.Lock()
		n := c.failures[key]
		if n < v.Fail {
			c.failures[key] = n + 1
			c.mu.Unlock()
			return fmt.Errorf("%s (failure %d of %d)", errFlakyText, n+1, v.Fail)
		}
		delete(c.failures, key)
		c.mu.Unlock()
	case poisonFixable:
		fixed, err := c.fixed(ctx, q, e.ID.String())
		if err != nil {
			return err
		}
		if !fixed {
			return worker.Permanent(errors.New(errFixableText))
		}
	}
	return sleep(ctx, time.Duration(v.SlowMs)*time.Millisecond)
}

// fixed reports whether the operator fixed what key names (an event id,
// or "saga:" and a compensation's idempotency key).
func (c *consumer) fixed(ctx context.Context, q querier, key string) (bool, error) {
	var ok bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+c.tables.fixes+` WHERE key = $1)`, key).Scan(&ok); err != nil {
		return false, fmt.Errorf("read fixes: %w", err)
	}
	return ok, nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
