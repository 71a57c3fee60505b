package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/internal/migrations"
	"github.com/causewayhq/causeway/worker/queue"
)

// Store is the PostgreSQL queue store. It is safe for concurrent use.
// Close stops its background goroutines (started on first use: the NOTIFY
// sender by the first enqueue, the LISTEN connection by the first
// Subscribe).
type Store struct {
	pool *pgxpool.Pool
	t    tables
	n    notify
}

type tables struct{ queues, msgs, dedup string }

var (
	_ queue.Store    = (*Store)(nil)
	_ queue.Notifier = (*Store)(nil)
)

// StoreOption configures a Store.
type StoreOption func(*Store, *string)

// Schema sets the schema holding the queue tables (default: the runtime's,
// migrations.DefaultSchema).
func Schema(name string) StoreOption { return func(_ *Store, s *string) { *s = name } }

// ListenURL sets the connection string of the LISTEN connection (default:
// a connection taken from the pool). Point it past a transaction-pooling
// proxy, where LISTEN does not work.
func ListenURL(url string) StoreOption { return func(st *Store, _ *string) { st.n.listenURL = url } }

// NotifyWindow sets the coalescing window of the NOTIFY sender: at most
// one NOTIFY per window (default DefaultNotifyWindow).
func NotifyWindow(d time.Duration) StoreOption { return func(st *Store, _ *string) { st.n.window = d } }

// Logger sets the logger of the LISTEN connection's warnings (default
// slog.Default()).
func Logger(l *slog.Logger) StoreOption { return func(st *Store, _ *string) { st.n.logger = l } }

// New returns a store on pool. It does not migrate: run runtime/migrate's
// Apply first.
func New(pool *pgxpool.Pool, opts ...StoreOption) (*Store, error) {
	if pool == nil {
		return nil, errors.New("queue/postgres: nil pool")
	}
	s := &Store{pool: pool}
	schema := migrations.DefaultSchema
	for _, o := range opts {
		o(s, &schema)
	}
	if err := migrations.ValidateSchema(schema); err != nil {
		return nil, err
	}
	q := pgx.Identifier{schema}.Sanitize() + "."
	s.t = tables{queues: q + "queues", msgs: q + "queue_messages", dedup: q + "queue_dedup"}
	s.n.init(pool, NotifyChannel(schema))
	return s, nil
}

// NotifyChannel is the LISTEN/NOTIFY channel of the queues in a schema.
// A notification's payload is the queue's name.
func NotifyChannel(schema string) string { return "causeway_queues_" + schema }

// Close stops the store's background goroutines. It does not close the
// pool. Subscriptions stay open but are woken only by this process's own
// enqueues afterwards.
func (s *Store) Close() { s.n.close() }

func queueErr(name string) error { return fmt.Errorf("%w: %q", queue.ErrUnknownQueue, name) }

func wrap(op string, err error) error { return fmt.Errorf("queue/postgres: %s: %w", op, err) }

func micros(d time.Duration) int64 { return d.Microseconds() }

// Declare implements queue.Store.
func (s *Store) Declare(ctx context.Context, name string, opts ...queue.Option) (queue.Config, error) {
	cfg, err := queue.NewConfig(name, opts...)
	if err != nil {
		return queue.Config{}, err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO `+s.t.queues+` (name, visibility_timeout, max_attempts, retention)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (name) DO UPDATE SET visibility_timeout = excluded.visibility_timeout,
			max_attempts = excluded.max_attempts, retention = excluded.retention, updated_at = now()`,
		name, micros(cfg.VisibilityTimeout), cfg.MaxAttempts, micros(cfg.Retention))
	if err != nil {
		return queue.Config{}, wrap("declare", err)
	}
	return cfg, nil
}

const configCols = `name, visibility_timeout, max_attempts, retention`

func scanConfig(row pgx.Row) (queue.Config, error) {
	var c queue.Config
	var vis, ret int64
	if err := row.Scan(&c.Name, &vis, &c.MaxAttempts, &ret); err != nil {
		return queue.Config{}, err
	}
	c.VisibilityTimeout, c.Retention = time.Duration(vis)*time.Microsecond, time.Duration(ret)*time.Microsecond
	return c, nil
}

// Queue implements queue.Store.
func (s *Store) Queue(ctx context.Context, name string) (queue.Config, error) {
	return s.config(ctx, s.pool, name)
}

func (s *Store) config(ctx context.Context, db querier, name string) (queue.Config, error) {
	c, err := scanConfig(db.QueryRow(ctx, `SELECT `+configCols+` FROM `+s.t.queues+` WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return queue.Config{}, queueErr(name)
	}
	if err != nil {
		return queue.Config{}, wrap("read queue", err)
	}
	return c, nil
}

// Queues implements queue.Store.
func (s *Store) Queues(ctx context.Context) ([]queue.Config, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+configCols+` FROM `+s.t.queues+` ORDER BY name`)
	if err != nil {
		return nil, wrap("list queues", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (queue.Config, error) { return scanConfig(r) })
	if err != nil {
		return nil, wrap("list queues", err)
	}
	return out, nil
}

type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}
