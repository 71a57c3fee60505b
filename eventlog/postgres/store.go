package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/internal/migrations"
)

// Config configures a Store. The zero value is usable: schema "causeway",
// 1 MiB payload limit, notifications on.
type Config struct {
	// Schema holds Causeway's tables (default "causeway", runtime/migrate's DefaultSchema).
	Schema string
	// MaxPayload limits one event's data plus metadata in bytes
	// (default eventlog.DefaultMaxPayload).
	MaxPayload int
	// DisableNotify turns the post-commit NOTIFY hint off (e.g. behind
	// PgBouncer in transaction pooling mode). Tailers then rely on polling.
	DisableNotify bool
	// NotifyWindow is the coalescing window: at most one NOTIFY per window
	// (default DefaultNotifyWindow).
	NotifyWindow time.Duration
	// ListenURL is the connection string of the LISTEN connection (default:
	// the pool's own). Point it past a transaction-pooling proxy.
	ListenURL string
	// Tailer tunes the process's tailer.
	Tailer eventlog.TailerOptions
	// DisableGroupCommit makes every Append a transaction of its own.
	// By default concurrent Appends share transactions (see group.go).
	DisableGroupCommit bool
	// AppendInFlight bounds the append transactions this store runs at once
	// with group commit (default DefaultAppendInFlight); appends arriving
	// while all are busy go together in the next.
	AppendInFlight int
	// Enrich, if set, may fill in an event's metadata from the append's
	// context before it is stored (the runtime adds the W3C trace context
	// so handlers continue the appender's trace).
	Enrich func(ctx context.Context, m *eventlog.Metadata)
}

// DefaultNotifyWindow is the default NOTIFY coalescing window.
const DefaultNotifyWindow = 2 * time.Millisecond

// Store is the PostgreSQL event log. It is safe for concurrent use.
type Store struct {
	pool       *pgxpool.Pool
	schema     string
	maxPayload int
	channel    string
	cfg        Config
	sql        queries
	notifier   *notifier
	group      *group // nil: group commit off

	mu         sync.Mutex
	tailerOnce sync.Once
	tailer     *eventlog.Tailer
	tailerStop context.CancelFunc
	tailerDone chan struct{}
}

var _ eventlog.Store = (*Store)(nil)

// New returns a store on pool. It does not migrate: run runtime/migrate's
// Apply (or the `migrate` command of runtime.Main) first.
func New(pool *pgxpool.Pool, cfg Config) (*Store, error) {
	if pool == nil {
		return nil, errors.New("eventlog/postgres: nil pool")
	}
	if cfg.Schema == "" {
		cfg.Schema = migrations.DefaultSchema
	}
	if err := migrations.ValidateSchema(cfg.Schema); err != nil {
		return nil, err
	}
	if cfg.MaxPayload <= 0 {
		cfg.MaxPayload = eventlog.DefaultMaxPayload
	}
	if cfg.NotifyWindow <= 0 {
		cfg.NotifyWindow = DefaultNotifyWindow
	}
	s := &Store{
		pool:       pool,
		schema:     cfg.Schema,
		maxPayload: cfg.MaxPayload,
		channel:    NotifyChannel(cfg.Schema),
		cfg:        cfg,
		sql:        newQueries(cfg.Schema),
	}
	if !cfg.DisableGroupCommit {
		if cfg.AppendInFlight <= 0 {
			cfg.AppendInFlight = DefaultAppendInFlight
		}
		s.group = newGroup(s, cfg.AppendInFlight)
	}
	if !cfg.DisableNotify {
		s.notifier = newNotifier(pool, s.channel, cfg.NotifyWindow)
	}
	return s, nil
}

// Schema returns the schema the store works in.
func (s *Store) Schema() string { return s.schema }

// Pool returns the store's pool.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close stops the store's background goroutines (tailer, listener,
// notifier). It does not close the pool.
func (s *Store) Close() {
	s.mu.Lock()
	stop, done := s.tailerStop, s.tailerDone
	s.tailerStop = nil
	s.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	if s.notifier != nil {
		s.notifier.close()
	}
}

// NotifyChannel is the LISTEN/NOTIFY channel for a schema.
func NotifyChannel(schema string) string { return "causeway_events_" + schema }

// Hint tells tailers, in this and other processes, that the log grew. Append
// calls it after its own commit; call it after committing a transaction in
// which you used AppendTx. It never blocks.
func (s *Store) Hint() { s.wake(false) }

// wake wakes this process's tailer and, unless the committed transaction
// carried the notification itself, asks the notifier for one.
func (s *Store) wake(notified bool) {
	if s.notifier != nil && !notified {
		s.notifier.hint()
	}
	if t := s.existingTailer(); t != nil {
		t.Wake()
	}
}

// carryNotify reports whether the append transaction about to start should
// carry the wake-up notification (see notifier).
func (s *Store) carryNotify() bool { return s.notifier != nil && s.notifier.tryCarry() }

// carried settles a carried notification: if its transaction failed, the
// notification is asked for again, since the hints it was to cover may
// have come from other commits.
func (s *Store) carried(ok bool) {
	if !ok {
		s.notifier.hint()
	}
}

// lockKey is the advisory-lock key of a stream: FNV-1a over schema and id, so
// stores in different schemas of one database do not contend.
func (s *Store) lockKey(streamID string) int64 {
	h := fnv.New64a()
	h.Write([]byte(s.schema))
	h.Write([]byte{0})
	h.Write([]byte(streamID))
	return int64(h.Sum64())
}

func newEventID() uuid.UUID { return uuid.New() }

// dbtx is what both a pool and a transaction offer.
type dbtx interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (s *Store) wrap(op string, err error) error {
	return fmt.Errorf("eventlog/postgres: %s: %w", op, err)
}
