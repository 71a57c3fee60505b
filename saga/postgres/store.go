package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/eventlog"
	pgstore "github.com/causewayhq/causeway/eventlog/postgres"
	"github.com/causewayhq/causeway/internal/migrations"
	"github.com/causewayhq/causeway/internal/pgtext"
	"github.com/causewayhq/causeway/internal/sqlwhere"
	"github.com/causewayhq/causeway/saga"
	qpostgres "github.com/causewayhq/causeway/worker/queue/postgres"
)

// Store keeps sagas in the Causeway schema. Emitted events are appended
// through the event store, and enqueued messages stored through the queue
// store (worker/queue/postgres, same pool and schema), in the same
// transaction as the state.
type Store struct {
	pool    *pgxpool.Pool
	log     *pgstore.Store
	queues  *qpostgres.Store
	sagas   string
	history string
	inbox   string
	claim   string
	group   *recordGroup
}

var _ saga.Store = (*Store)(nil)

// New returns a store on the event store's pool and schema: emitted events
// are appended through log, and enqueued messages stored in that schema's
// queues, in the transaction that records the outcome. It does not migrate
// (see runtime/migrate).
func New(log *pgstore.Store, opts ...Option) (*Store, error) {
	if log == nil {
		return nil, errors.New("saga/postgres: nil event store")
	}
	if err := migrations.ValidateSchema(log.Schema()); err != nil {
		return nil, err
	}
	queues, err := qpostgres.New(log.Pool(), qpostgres.Schema(log.Schema()))
	if err != nil {
		return nil, err
	}
	q := pgx.Identifier{log.Schema()}.Sanitize() + "."
	s := &Store{pool: log.Pool(), log: log, queues: queues,
		sagas: q + "sagas", history: q + "saga_history", inbox: q + "saga_inbox", claim: q + "claim_sagas"}
	s.group = newRecordGroup(s)
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Option configures a Store.
type Option func(*Store)

// RecordInFlight bounds the record transactions the store's group commit
// runs at once (default DefaultRecordInFlight); zero or negative turns
// group commit off, so every Record has a transaction of its own.
func RecordInFlight(n int) Option { return func(s *Store) { s.group.g.InFlight = n } }

func wrap(op string, err error) error { return fmt.Errorf("saga/postgres: %s: %w", op, err) }

const instanceColumns = `id, saga_type, correlation_id, state, status, step, attempts,
	coalesce(next_attempt_at, 'epoch'), coalesce(wait_deadline, 'epoch'), coalesce(lease_owner, ''),
	coalesce(lease_expires_at, 'epoch'), version, last_error, coalesce(started_by, '00000000-0000-0000-0000-000000000000'),
	created_at, updated_at, trace_parent, trace_state, wait_event`

func scanInstance(r pgx.CollectableRow) (saga.Instance, error) {
	var (
		i      saga.Instance
		id, by [16]byte
		status string
	)
	err := r.Scan(&id, &i.Type, &i.CorrelationID, &i.State, &status, &i.Step, &i.Attempts, &i.NextAttemptAt,
		&i.WaitDeadline, &i.LeaseOwner, &i.LeaseExpiresAt, &i.Version, &i.LastError, &by, &i.CreatedAt, &i.UpdatedAt,
		&i.TraceParent, &i.TraceState, &i.WaitEvent)
	i.ID, i.StartedBy, i.Status = id, by, saga.Status(status)
	i.NextAttemptAt, i.WaitDeadline, i.LeaseExpiresAt = unEpoch(i.NextAttemptAt), unEpoch(i.WaitDeadline), unEpoch(i.LeaseExpiresAt)
	return i, err
}

func unEpoch(t time.Time) time.Time {
	if t.Unix() == 0 {
		return time.Time{}
	}
	return t
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Start implements saga.Store.
func (s *Store) Start(ctx context.Context, tx pgx.Tx, inst saga.Instance) (bool, error) {
	_, created, err := s.start(ctx, tx, inst, nil, 0)
	return created, err
}

// StartLeased implements saga.Store.
func (s *Store) StartLeased(ctx context.Context, tx pgx.Tx, inst saga.Instance, owner string, lease time.Duration) (saga.Instance, bool, error) {
	return s.start(ctx, tx, inst, &owner, lease)
}

// start creates inst, leased to owner (if not nil) for lease from the
// statement's time: the subscription's transaction may be older than the
// statement, and a lease counted from its start would be shorter than the
// executor believes.
func (s *Store) start(ctx context.Context, tx pgx.Tx, inst saga.Instance, owner *string, lease time.Duration) (saga.Instance, bool, error) {
	var db querier = s.pool
	if tx != nil {
		db = tx
	}
	rows, err := db.Query(ctx, `INSERT INTO `+s.sagas+` (id, saga_type, correlation_id, state, status, step, next_attempt_at, wait_deadline, started_by,
			trace_parent, trace_state, wait_event, lease_owner, lease_expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
			CASE WHEN $13::text IS NULL THEN NULL ELSE statement_timestamp() + $14::interval END)
		ON CONFLICT (saga_type, correlation_id) DO NOTHING
		RETURNING version, coalesce(lease_expires_at, 'epoch'), created_at`,
		[16]byte(inst.ID), inst.Type, inst.CorrelationID, []byte(inst.State), string(inst.Status), inst.Step,
		nullTime(inst.NextAttemptAt), nullTime(inst.WaitDeadline), [16]byte(inst.StartedBy),
		pgtext.Sanitize(inst.TraceParent), pgtext.Sanitize(inst.TraceState), inst.WaitEvent, owner, interval(lease))
	if err != nil {
		return saga.Instance{}, false, wrap("start", err)
	}
	defer rows.Close()
	created := false
	for rows.Next() {
		var until time.Time
		if err := rows.Scan(&inst.Version, &until, &inst.CreatedAt); err != nil {
			return saga.Instance{}, false, wrap("start", err)
		}
		created = true
		inst.UpdatedAt, inst.LeaseOwner, inst.LeaseExpiresAt = inst.CreatedAt, "", unEpoch(until)
		if owner != nil {
			inst.LeaseOwner = *owner
		}
	}
	if err := rows.Err(); err != nil {
		return saga.Instance{}, false, wrap("start", err)
	}
	if !created {
		return saga.Instance{}, false, nil
	}
	inst.TraceParent, inst.TraceState = pgtext.Sanitize(inst.TraceParent), pgtext.Sanitize(inst.TraceState)
	return inst, true, nil
}

// AddInbox implements saga.Store.
//
// The statement updates the instance's row while it runs a step too (a
// no-op for a row not waiting), so this transaction holds the row's lock
// until it commits. A park (Record of a parked instance) updates the row
// first and looks in the inbox in a later statement: it either waits for
// a filing in progress to commit and then sees its entry, or commits
// first, and the filing, having waited for it, sees the instance waiting
// and wakes it. The group commit's batches skip rows locked here instead
// of waiting (group.go), so a filing and a batch cannot deadlock.
func (s *Store) AddInbox(ctx context.Context, tx pgx.Tx, sagaType, corr string, e eventlog.Event) error {
	var db querier = s.pool
	if tx != nil {
		db = tx
	}
	rows, err := db.Query(ctx, `WITH ins AS (
			INSERT INTO `+s.inbox+` (saga_type, correlation_id, event_id, event_type, event_tx, event_pos)
			SELECT $1, $2, $3, $4, $5, $6
			 WHERE NOT EXISTS (SELECT 1 FROM `+s.sagas+` WHERE saga_type = $1 AND correlation_id = $2
			                    AND status IN ('completed', 'compensated', 'cancelled'))
			ON CONFLICT DO NOTHING)
		UPDATE `+s.sagas+` SET next_attempt_at = CASE WHEN status = 'waiting' AND wait_event IN ('', $4)
			THEN least(next_attempt_at, now()) ELSE next_attempt_at END
		WHERE saga_type = $1 AND correlation_id = $2 AND status IN ('running', 'waiting')`,
		sagaType, corr, [16]byte(e.ID), e.Type, e.Position.TxID, e.Position.Seq)
	if err != nil {
		return wrap("file event", err)
	}
	rows.Close()
	return wrap2("file event", rows.Err())
}

func wrap2(op string, err error) error {
	if err == nil {
		return nil
	}
	return wrap(op, err)
}

// Inbox implements saga.Store.
func (s *Store) Inbox(ctx context.Context, sagaType, corr, eventType string) ([]saga.InboxEntry, error) {
	rows, err := s.pool.Query(ctx, `SELECT event_id, event_type, event_tx, event_pos FROM `+s.inbox+`
		WHERE saga_type = $1 AND correlation_id = $2 AND event_type = $3 ORDER BY event_tx, event_pos`, sagaType, corr, eventType)
	if err != nil {
		return nil, wrap("read inbox", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (saga.InboxEntry, error) {
		var e saga.InboxEntry
		var id [16]byte
		err := r.Scan(&id, &e.Type, &e.Position.TxID, &e.Position.Seq)
		e.EventID = id
		return e, err
	})
	if err != nil {
		return nil, wrap("read inbox", err)
	}
	return out, nil
}

func interval(d time.Duration) string { return fmt.Sprintf("%d microseconds", d.Microseconds()) }

// Claim implements saga.Store.
func (s *Store) Claim(ctx context.Context, types []string, owner string, n int, lease time.Duration) ([]saga.Instance, error) {
	// claim_sagas (migration 0005) walks the due index in order whatever
	// the table's statistics say; see its comment.
	return s.instances(ctx, "claim", `SELECT `+instanceColumns+` FROM `+s.claim+`($1, $2, $3, $4::interval)`,
		types, owner, n, interval(lease))
}

// instances runs a query selecting instanceColumns.
func (s *Store) instances(ctx context.Context, op, sql string, args ...any) ([]saga.Instance, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, wrap(op, err)
	}
	out, err := pgx.CollectRows(rows, scanInstance)
	if err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}

// recordSQL updates the instance at its claimed version and writes its
// history entry, in one statement.
func (s *Store) recordSQL() string {
	return `WITH u AS (
		UPDATE ` + s.sagas + ` SET state = $3, status = $4, step = $5, attempts = $6, next_attempt_at = $7,
			wait_deadline = $8, last_error = $9, wait_event = $19, version = version + 1, updated_at = now(),
			lease_owner = $10, lease_expires_at = CASE WHEN $10::text IS NULL THEN NULL ELSE now() + $11::interval END
		WHERE id = $1 AND version = $2
		RETURNING id, version, coalesce(lease_expires_at, 'epoch') AS lease_expires_at),
	h AS (
		INSERT INTO ` + s.history + ` (saga_id, step, phase, attempt, outcome, error)
		SELECT id, $12, $13, $14, $15, $16 FROM u WHERE $12 <> ''),
	-- A finished instance needs its filed events no more.
	i AS (
		DELETE FROM ` + s.inbox + ` WHERE $4 IN ('completed', 'compensated', 'cancelled')
		   AND saga_type = $17 AND correlation_id = $18 AND EXISTS (SELECT 1 FROM u))
	SELECT version, lease_expires_at FROM u`
}

// Record implements saga.Store. Error text is stored sanitized
// (saga.StorableOutcome); an outcome PostgreSQL, the event log or the queue
// store refuses is a *saga.RefusedError.
func (s *Store) Record(ctx context.Context, claimed, next saga.Instance, h saga.HistoryEntry, fx saga.Effects, consumed *saga.InboxEntry, keep time.Duration) (saga.Instance, error) {
	if err := saga.CheckOutcome(next, fx); err != nil {
		return saga.Instance{}, err
	}
	parking := saga.Parked(next)
	if fx.Empty() && consumed == nil && parking {
		return s.park(ctx, claimed, next, h, keep)
	}
	if fx.Empty() && consumed == nil {
		if s.group.g.InFlight <= 0 {
			return s.record(ctx, s.pool, claimed, next, h, keep)
		}
		// Nothing but the instance and its history: share a transaction
		// with the other executor slots' records (group.go).
		return s.group.record(ctx, claimed, next, h, keep)
	}
	// Events, messages and the consumed inbox entry go in the same
	// transaction. The appends come first, before the transaction has an
	// id, so the order guard rarely has to refuse them; when it does, the
	// whole transaction is retried. The instance's row is updated last: a
	// lost lease rolls back the effects with it.
	for attempt := 1; ; attempt++ {
		var out saga.Instance
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			for _, em := range fx.Emits {
				if _, err := s.log.AppendTx(ctx, tx, em.StreamID, em.Expected, em.Events...); err != nil {
					if r := saga.RefuseEmit(em, err); r != nil {
						return r
					}
					if r := refusedByPostgres(err); r != nil {
						return &saga.RefusedError{Err: fmt.Errorf("emit to %q: %w", em.StreamID, err), Permanent: true}
					}
					return err
				}
			}
			for _, eq := range fx.Enqueues {
				if _, err := s.queues.EnqueueTx(ctx, tx, eq.Queue, eq.Messages...); err != nil {
					if r := saga.RefuseEnqueue(eq, err); r != nil {
						return r
					}
					if r := refusedByPostgres(err); r != nil {
						return &saga.RefusedError{Err: fmt.Errorf("enqueue to %q: %w", eq.Queue, err), Permanent: true}
					}
					return err
				}
			}
			if consumed != nil {
				if _, err := tx.Exec(ctx, `DELETE FROM `+s.inbox+` WHERE saga_type = $1 AND correlation_id = $2 AND event_id = $3`,
					claimed.Type, claimed.CorrelationID, [16]byte(consumed.EventID)); err != nil {
					return err
				}
			}
			if !parking {
				var err error
				out, err = s.record(ctx, tx, claimed, next, h, keep)
				return err
			}
			parked, err := s.record(ctx, tx, claimed, next, h, 0)
			if err != nil {
				return err
			}
			out, err = s.wakeIfFiled(ctx, tx, parked, claimed.LeaseOwner, keep)
			return err
		})
		if err == nil {
			if len(fx.Emits) > 0 {
				s.log.Hint()
			}
			return out, nil
		}
		if eventlog.IsRetryable(err) && attempt < 10 {
			continue
		}
		if errors.Is(err, saga.ErrLeaseLost) || errors.Is(err, saga.ErrOutcomeRefused) {
			return saga.Instance{}, err
		}
		return saga.Instance{}, wrap("record", err)
	}
}

// wakeIfFiled makes an instance that was just parked at a wait step due at
// once if the event it waits for is already in its inbox, keeping owner's
// lease for keep when keep > 0 (so the executor receives it without a
// claim). It runs in the transaction that parked the instance, after the
// statement that did: a statement of its own sees every filing committed
// before that row was updated (see AddInbox).
func (s *Store) wakeIfFiled(ctx context.Context, tx pgx.Tx, inst saga.Instance, owner string, keep time.Duration) (saga.Instance, error) {
	o := leaseFor(owner, keep)
	var due, until time.Time
	err := tx.QueryRow(ctx, s.wakeSQL(), [16]byte(inst.ID), inst.Version, o, interval(keep)).Scan(&due, &until)
	if errors.Is(err, pgx.ErrNoRows) {
		return inst, nil // nothing filed yet: parked until an event or the deadline
	}
	if err != nil {
		return saga.Instance{}, err
	}
	return woken(inst, o, due, until), nil
}

// wakeSQL makes a parked instance ($1 at version $2) due now, leased to $3
// for $4, if an event of the type it waits for is in its inbox.
func (s *Store) wakeSQL() string {
	return `UPDATE ` + s.sagas + ` s SET next_attempt_at = now(), lease_owner = $3,
			lease_expires_at = CASE WHEN $3::text IS NULL THEN NULL ELSE now() + $4::interval END
		WHERE id = $1 AND version = $2 AND EXISTS (SELECT 1 FROM ` + s.inbox + ` i
			WHERE i.saga_type = s.saga_type AND i.correlation_id = s.correlation_id AND i.event_type = s.wait_event)
		RETURNING next_attempt_at, coalesce(lease_expires_at, 'epoch')`
}

func leaseFor(owner string, keep time.Duration) *string {
	if keep > 0 {
		return &owner
	}
	return nil
}

func woken(inst saga.Instance, owner *string, due, until time.Time) saga.Instance {
	inst.NextAttemptAt = due
	if owner != nil {
		inst.LeaseOwner, inst.LeaseExpiresAt = *owner, unEpoch(until)
	}
	return inst
}

// park records an instance parked at a wait step, with no effects, in one
// round trip: the record (unleased) and wakeSQL pipelined in one implicit
// transaction, each statement with a snapshot of its own (READ COMMITTED),
// as AddInbox explains.
func (s *Store) park(ctx context.Context, claimed, next saga.Instance, h saga.HistoryEntry, keep time.Duration) (saga.Instance, error) {
	next, h = saga.StorableOutcome(next, h)
	o := leaseFor(claimed.LeaseOwner, keep)
	b := &pgx.Batch{}
	b.Queue(s.recordSQL(), s.recordArgs(claimed, next, h, nil, 0)...)
	b.Queue(s.wakeSQL(), [16]byte(claimed.ID), claimed.Version+1, o, interval(keep))
	br := s.pool.SendBatch(ctx, b)
	var (
		leaseUntil, due, until time.Time
		woke                   bool
	)
	err := br.QueryRow().Scan(&next.Version, &leaseUntil)
	if err == nil {
		switch werr := br.QueryRow().Scan(&due, &until); {
		case werr == nil:
			woke = true
		case !errors.Is(werr, pgx.ErrNoRows):
			err = werr
		}
	}
	// The implicit transaction commits here: its failure shows on Close.
	if cerr := br.Close(); err == nil || cerr != nil && errors.Is(err, pgx.ErrNoRows) {
		err = cerr
	}
	if err != nil {
		return saga.Instance{}, recordErr(claimed, err)
	}
	next.LeaseOwner, next.LeaseExpiresAt = "", time.Time{}
	if woke {
		next = woken(next, o, due, until)
	}
	return next, nil
}

// refusedByPostgres reports PostgreSQL refusing the data itself: a data
// exception (class 22: text or JSON it cannot store) or a value past its
// limits (class 54). The same statement would fail again.
func refusedByPostgres(err error) *saga.RefusedError {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "54")) {
		return &saga.RefusedError{Err: err, Permanent: true}
	}
	return nil
}

func (s *Store) record(ctx context.Context, db querier, claimed, next saga.Instance, h saga.HistoryEntry, keep time.Duration) (saga.Instance, error) {
	owner := leaseFor(claimed.LeaseOwner, keep)
	var leaseUntil time.Time
	next, h = saga.StorableOutcome(next, h)
	err := db.QueryRow(ctx, s.recordSQL(), s.recordArgs(claimed, next, h, owner, keep)...).Scan(&next.Version, &leaseUntil)
	if err != nil {
		return saga.Instance{}, recordErr(claimed, err)
	}
	if owner != nil {
		next.LeaseOwner, next.LeaseExpiresAt = *owner, unEpoch(leaseUntil)
	} else {
		next.LeaseOwner, next.LeaseExpiresAt = "", time.Time{}
	}
	return next, nil
}

// recordArgs are recordSQL's arguments; next and h are storable.
func (s *Store) recordArgs(claimed, next saga.Instance, h saga.HistoryEntry, owner *string, keep time.Duration) []any {
	return []any{[16]byte(claimed.ID), claimed.Version, []byte(next.State), string(next.Status),
		next.Step, next.Attempts, nullTime(next.NextAttemptAt), nullTime(next.WaitDeadline), next.LastError,
		owner, interval(keep), h.Step, string(h.Phase), h.Attempt, string(h.Outcome), h.Error,
		claimed.Type, claimed.CorrelationID, next.WaitEvent}
}

// recordErr maps a failed record: no row is a lost lease, data PostgreSQL
// refuses a *saga.RefusedError.
func recordErr(claimed saga.Instance, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: %s", saga.ErrLeaseLost, claimed.ID)
	}
	if r := refusedByPostgres(err); r != nil {
		r.Err = fmt.Errorf("state or history: %w", err)
		return r
	}
	return wrap("record", err)
}

// NextDue implements saga.Store.
func (s *Store) NextDue(ctx context.Context, types []string) (time.Time, bool, error) {
	var t *time.Time
	err := s.pool.QueryRow(ctx, `SELECT min(next_attempt_at) FROM `+s.sagas+`
		WHERE status IN ('running', 'waiting', 'compensating') AND saga_type = ANY ($1)`, types).Scan(&t)
	if err != nil {
		return time.Time{}, false, wrap("next due", err)
	}
	if t == nil {
		return time.Time{}, false, nil
	}
	return *t, true, nil
}

// Get implements saga.Store.
func (s *Store) Get(ctx context.Context, id uuid.UUID) (saga.Instance, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+instanceColumns+` FROM `+s.sagas+` WHERE id = $1`, [16]byte(id))
	if err != nil {
		return saga.Instance{}, wrap("get", err)
	}
	inst, err := pgx.CollectExactlyOneRow(rows, scanInstance)
	if errors.Is(err, pgx.ErrNoRows) {
		return saga.Instance{}, fmt.Errorf("%w: saga %s", saga.ErrNotFound, id)
	}
	if err != nil {
		return saga.Instance{}, wrap("get", err)
	}
	return inst, nil
}

// History implements saga.Store.
func (s *Store) History(ctx context.Context, id uuid.UUID) ([]saga.HistoryEntry, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, step, phase, attempt, outcome, error, at FROM `+s.history+` WHERE saga_id = $1 ORDER BY seq`, [16]byte(id))
	if err != nil {
		return nil, wrap("history", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (saga.HistoryEntry, error) {
		var h saga.HistoryEntry
		var phase, outcome string
		err := r.Scan(&h.Seq, &h.Step, &phase, &h.Attempt, &outcome, &h.Error, &h.At)
		h.Phase, h.Outcome = saga.Phase(phase), saga.Outcome(outcome)
		return h, err
	})
	if err != nil {
		return nil, wrap("history", err)
	}
	return out, nil
}

// List implements saga.Store.
func (s *Store) List(ctx context.Context, q saga.Query) ([]saga.Instance, error) {
	var w sqlwhere.Builder
	if q.Type != "" {
		w.Add("saga_type = $%d", q.Type)
	}
	if q.Status != "" {
		w.Add("status = $%d", string(q.Status))
	}
	if q.CorrelationID != "" {
		w.Add("correlation_id = $%d", q.CorrelationID)
	}
	if q.After != uuid.Nil {
		w.Add("id > $%d", [16]byte(q.After))
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	sql := `SELECT ` + instanceColumns + ` FROM ` + s.sagas + w.SQL() + fmt.Sprintf(` ORDER BY id LIMIT %d`, limit)
	return s.instances(ctx, "list", sql, w.Args()...)
}

// Count implements saga.Store.
func (s *Store) Count(ctx context.Context, sagaType string) (map[saga.Status]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT status, count(*) FROM `+s.sagas+` WHERE saga_type = $1 GROUP BY status`, sagaType)
	if err != nil {
		return nil, wrap("count", err)
	}
	out := map[saga.Status]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			rows.Close()
			return nil, wrap("count", err)
		}
		out[saga.Status(st)] = n
	}
	return out, wrap2("count", rows.Err())
}

// Update implements saga.Store.
func (s *Store) Update(ctx context.Context, read, next saga.Instance, h saga.HistoryEntry) (saga.Instance, error) {
	read.LeaseOwner = ""
	return s.record(ctx, s.pool, read, next, h, 0)
}
