package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/internal/migrations"
)

// PostgresStore keeps consumer-group state in the Causeway schema.
type PostgresStore struct {
	pool   *pgxpool.Pool
	schema string
	t      tables
}

var _ Store = (*PostgresStore)(nil)

type tables struct{ subs, parts, members, dls, discarded string }

// NewPostgres returns a store on pool in schema ("" = the default schema).
// Migrations must have been applied.
func NewPostgres(pool *pgxpool.Pool, schema string) (*PostgresStore, error) {
	if pool == nil {
		return nil, errors.New("checkpoint: nil pool")
	}
	if schema == "" {
		schema = migrations.DefaultSchema
	}
	if err := migrations.ValidateSchema(schema); err != nil {
		return nil, err
	}
	q := pgx.Identifier{schema}.Sanitize() + "."
	return &PostgresStore{pool: pool, schema: schema, t: tables{
		subs: q + "subscriptions", parts: q + "partitions", members: q + "members", dls: q + "dead_letters",
		discarded: q + "discarded_events",
	}}, nil
}

// Pool returns the store's pool.
func (s *PostgresStore) Pool() *pgxpool.Pool { return s.pool }

func wrap(op string, err error) error { return fmt.Errorf("checkpoint: %s: %w", op, err) }

func interval(d time.Duration) string { return fmt.Sprintf("%d microseconds", d.Microseconds()) }

// Register implements Store.
func (s *PostgresStore) Register(ctx context.Context, sub Subscription) (Subscription, error) {
	if err := ValidateName(sub.Name); err != nil {
		return Subscription{}, err
	}
	if sub.Partitions < 1 || sub.Partitions > MaxPartitions {
		return Subscription{}, fmt.Errorf("checkpoint: subscription %q: partitions must be 1..%d, got %d", sub.Name, MaxPartitions, sub.Partitions)
	}
	var out Subscription
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO `+s.t.subs+` (name, partitions, start_tx, start_pos)
			VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING`, sub.Name, sub.Partitions, sub.StartAt.TxID, sub.StartAt.Seq)
		if err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT name, partitions, start_tx, start_pos, created_at FROM `+s.t.subs+` WHERE name = $1`, sub.Name).
			Scan(&out.Name, &out.Partitions, &out.StartAt.TxID, &out.StartAt.Seq, &out.CreatedAt); err != nil {
			return err
		}
		if out.Partitions != sub.Partitions {
			return fmt.Errorf("%w: %q has %d, registered with %d", ErrPartitionsChanged, sub.Name, out.Partitions, sub.Partitions)
		}
		_, err = tx.Exec(ctx, `INSERT INTO `+s.t.parts+` (subscription, partition, tx_id, position)
			SELECT $1, p, $2, $3 FROM generate_series(0, $4 - 1) p
			ON CONFLICT DO NOTHING`, sub.Name, out.StartAt.TxID, out.StartAt.Seq, out.Partitions)
		return err
	})
	if err != nil {
		if errors.Is(err, ErrPartitionsChanged) {
			return Subscription{}, err
		}
		return Subscription{}, wrap("register "+sub.Name, err)
	}
	return out, nil
}

// Subscriptions implements Store.
func (s *PostgresStore) Subscriptions(ctx context.Context) ([]Subscription, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, partitions, start_tx, start_pos, created_at FROM `+s.t.subs+` ORDER BY name`)
	if err != nil {
		return nil, wrap("list subscriptions", err)
	}
	subs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Subscription, error) {
		var x Subscription
		err := r.Scan(&x.Name, &x.Partitions, &x.StartAt.TxID, &x.StartAt.Seq, &x.CreatedAt)
		return x, err
	})
	if err != nil {
		return nil, wrap("list subscriptions", err)
	}
	return subs, nil
}

// Subscription implements Store.
func (s *PostgresStore) Subscription(ctx context.Context, name string) (Subscription, error) {
	var x Subscription
	err := s.pool.QueryRow(ctx, `SELECT name, partitions, start_tx, start_pos, created_at FROM `+s.t.subs+` WHERE name = $1`, name).
		Scan(&x.Name, &x.Partitions, &x.StartAt.TxID, &x.StartAt.Seq, &x.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return x, fmt.Errorf("%w: subscription %q", ErrNotFound, name)
	}
	if err != nil {
		return x, wrap("read subscription", err)
	}
	return x, nil
}

// Heartbeat implements Store.
func (s *PostgresStore) Heartbeat(ctx context.Context, sub string, m Member, ttl time.Duration) (int, error) {
	var live int
	err := s.pool.QueryRow(ctx, `WITH up AS (
			INSERT INTO `+s.t.members+` (subscription, member, host, pid, expires_at)
			VALUES ($1, $2, $3, $4, now() + $5::interval)
			ON CONFLICT (subscription, member) DO UPDATE SET expires_at = excluded.expires_at
			RETURNING 1)
		SELECT 1 + (SELECT count(*) FROM `+s.t.members+`
		            WHERE subscription = $1 AND member <> $2 AND expires_at > now())
		FROM up`, sub, m.ID, m.Host, m.PID, interval(ttl)).Scan(&live)
	if err != nil {
		return 0, wrap("heartbeat", err)
	}
	return live, nil
}

// Leave implements Store.
func (s *PostgresStore) Leave(ctx context.Context, sub, member string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM `+s.t.members+` WHERE subscription = $1 AND member = $2`, sub, member); err != nil {
		return wrap("leave", err)
	}
	return nil
}

// Members implements Store.
func (s *PostgresStore) Members(ctx context.Context, sub string) ([]Member, error) {
	rows, err := s.pool.Query(ctx, `SELECT member, host, pid FROM `+s.t.members+`
		WHERE subscription = $1 AND expires_at > now() ORDER BY member`, sub)
	if err != nil {
		return nil, wrap("members", err)
	}
	ms, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Member, error) {
		var m Member
		err := r.Scan(&m.ID, &m.Host, &m.PID)
		return m, err
	})
	if err != nil {
		return nil, wrap("members", err)
	}
	return ms, nil
}

// Claim implements Store. SKIP LOCKED passes over a partition whose row a
// committing batch holds for an instant; it is claimed on the next round.
func (s *PostgresStore) Claim(ctx context.Context, sub, member string, max int, ttl time.Duration) ([]Lease, error) {
	if max <= 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `WITH cand AS (
			SELECT partition FROM `+s.t.parts+`
			 WHERE subscription = $1 AND (owner IS NULL OR lease_expires_at < now())
			 ORDER BY partition LIMIT $3
			   FOR UPDATE SKIP LOCKED)
		UPDATE `+s.t.parts+` p
		   SET owner = $2, epoch = p.epoch + 1, lease_expires_at = now() + $4::interval
		  FROM cand
		 WHERE p.subscription = $1 AND p.partition = cand.partition
		RETURNING p.partition, p.epoch, p.tx_id, p.position`, sub, member, max, interval(ttl))
	if err != nil {
		return nil, wrap("claim", err)
	}
	leases, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Lease, error) {
		l := Lease{Subscription: sub, Owner: member}
		err := r.Scan(&l.Partition, &l.Epoch, &l.Checkpoint.TxID, &l.Checkpoint.Seq)
		return l, err
	})
	if err != nil {
		return nil, wrap("claim", err)
	}
	sortLeases(leases)
	return leases, nil
}

func leaseArrays(leases []Lease) (parts []int32, epochs []int64) {
	for _, l := range leases {
		parts = append(parts, int32(l.Partition))
		epochs = append(epochs, l.Epoch)
	}
	return parts, epochs
}

// Renew implements Store.
func (s *PostgresStore) Renew(ctx context.Context, leases []Lease, ttl time.Duration) ([]Lease, error) {
	if len(leases) == 0 {
		return nil, nil
	}
	parts, epochs := leaseArrays(leases)
	rows, err := s.pool.Query(ctx, `UPDATE `+s.t.parts+` p SET lease_expires_at = now() + $5::interval
		FROM unnest($3::int[], $4::bigint[]) AS l(partition, epoch)
		WHERE p.subscription = $1 AND p.owner = $2 AND p.partition = l.partition AND p.epoch = l.epoch
		RETURNING p.partition`, leases[0].Subscription, leases[0].Owner, parts, epochs, interval(ttl))
	if err != nil {
		return nil, wrap("renew", err)
	}
	kept, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil, wrap("renew", err)
	}
	held := make(map[int]bool, len(kept))
	for _, p := range kept {
		held[int(p)] = true
	}
	var out []Lease
	for _, l := range leases {
		if held[l.Partition] {
			out = append(out, l)
		}
	}
	return out, nil
}

// Release implements Store.
func (s *PostgresStore) Release(ctx context.Context, leases []Lease) error {
	if len(leases) == 0 {
		return nil
	}
	parts, epochs := leaseArrays(leases)
	_, err := s.pool.Exec(ctx, `UPDATE `+s.t.parts+` p SET owner = NULL, lease_expires_at = NULL
		FROM unnest($3::int[], $4::bigint[]) AS l(partition, epoch)
		WHERE p.subscription = $1 AND p.owner = $2 AND p.partition = l.partition AND p.epoch = l.epoch`,
		leases[0].Subscription, leases[0].Owner, parts, epochs)
	if err != nil {
		return wrap("release", err)
	}
	return nil
}

// Partitions implements Store.
func (s *PostgresStore) Partitions(ctx context.Context, sub string) ([]PartitionState, error) {
	rows, err := s.pool.Query(ctx, `SELECT partition, tx_id, position, coalesce(owner, ''), epoch,
			coalesce(lease_expires_at, 'epoch'), coalesce(committed_at, 'epoch')
		FROM `+s.t.parts+` WHERE subscription = $1 ORDER BY partition`, sub)
	if err != nil {
		return nil, wrap("partitions", err)
	}
	ps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (PartitionState, error) {
		var p PartitionState
		err := r.Scan(&p.Partition, &p.Checkpoint.TxID, &p.Checkpoint.Seq, &p.Owner, &p.Epoch, &p.LeaseExpiresAt, &p.CommittedAt)
		return p, err
	})
	if err != nil {
		return nil, wrap("partitions", err)
	}
	for i := range ps {
		ps[i].LeaseExpiresAt = zeroEpoch(ps[i].LeaseExpiresAt)
		ps[i].CommittedAt = zeroEpoch(ps[i].CommittedAt)
	}
	return ps, nil
}

func zeroEpoch(t time.Time) time.Time {
	if t.Unix() == 0 {
		return time.Time{}
	}
	return t
}

// Begin implements Store.
func (s *PostgresStore) Begin(ctx context.Context) (Tx, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, wrap("begin", err)
	}
	return &pgTx{s: s, tx: tx}, nil
}

// BeginTx wraps a transaction the caller opened (e.g. to also append events
// with eventlog/postgres AppendTx). Commit commits it.
func (s *PostgresStore) BeginTx(tx pgx.Tx) Tx { return &pgTx{s: s, tx: tx} }

// Commit implements Store.
func (s *PostgresStore) Commit(ctx context.Context, l Lease, pos eventlog.Position) error {
	return s.commitCheckpoint(ctx, s.pool, l, pos)
}

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func (s *PostgresStore) commitCheckpoint(ctx context.Context, db execer, l Lease, pos eventlog.Position) error {
	tag, err := db.Exec(ctx, `UPDATE `+s.t.parts+` SET tx_id = $4, position = $5, committed_at = now()
		WHERE subscription = $1 AND partition = $2 AND epoch = $3 AND owner = $6`,
		l.Subscription, l.Partition, l.Epoch, pos.TxID, pos.Seq, l.Owner)
	if err != nil {
		return wrap("commit checkpoint", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %s/%d epoch %d", ErrFenced, l.Subscription, l.Partition, l.Epoch)
	}
	return nil
}

type pgTx struct {
	s  *PostgresStore
	tx pgx.Tx
}

func (t *pgTx) Pgx() pgx.Tx { return t.tx }

func (t *pgTx) PutDeadLetter(ctx context.Context, dl DeadLetter) error {
	dl = storable(dl)
	_, err := t.tx.Exec(ctx, `INSERT INTO `+t.s.t.dls+` (subscription, partition, key, event_id, event_tx, event_pos,
			stream_id, version, event_type, blocked, error, attempts, first_failed_at, last_failed_at, next_attempt_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
		ON CONFLICT (subscription, event_id) DO UPDATE SET
			blocked = excluded.blocked, error = excluded.error, attempts = excluded.attempts,
			last_failed_at = excluded.last_failed_at, next_attempt_at = excluded.next_attempt_at,
			retry_requested = false`,
		dl.Subscription, dl.Partition, dl.Key, [16]byte(dl.EventID), dl.Position.TxID, dl.Position.Seq,
		dl.StreamID, dl.Version, dl.Type, dl.Blocked, dl.Error, dl.Attempts, dl.FirstFailedAt, dl.LastFailedAt,
		nullTime(dl.NextAttemptAt))
	if err != nil {
		return wrap("put dead letter", err)
	}
	return nil
}

func (t *pgTx) RemoveDeadLetter(ctx context.Context, sub string, id int64) error {
	if _, err := t.tx.Exec(ctx, `DELETE FROM `+t.s.t.dls+` WHERE subscription = $1 AND id = $2`, sub, id); err != nil {
		return wrap("remove dead letter", err)
	}
	return nil
}

func (t *pgTx) Commit(ctx context.Context, l Lease, pos eventlog.Position) error {
	if err := t.s.commitCheckpoint(ctx, t.tx, l, pos); err != nil {
		_ = t.tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	if err := t.tx.Commit(ctx); err != nil {
		return wrap("commit", err)
	}
	return nil
}

func (t *pgTx) Rollback(ctx context.Context) error {
	err := t.tx.Rollback(ctx)
	if err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		return wrap("rollback", err)
	}
	return nil
}
