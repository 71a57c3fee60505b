package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// dlParams numbers query parameters as conditions are added.
type dlParams struct {
	args  []any
	conds []string
}

func (p *dlParams) arg(v any) string {
	p.args = append(p.args, v)
	return fmt.Sprintf("$%d", len(p.args))
}

func (p *dlParams) where(cond string, v any) { p.conds = append(p.conds, fmt.Sprintf(cond, p.arg(v))) }

// filterSQL adds f's conditions on the dead letters aliased d.
func (p *dlParams) filter(f DeadLetterFilter) {
	if f.Partition != nil {
		p.where("d.partition = %s", *f.Partition)
	}
	if f.Key != "" {
		p.where("d.key = %s", f.Key)
	}
	if f.Type != "" {
		p.where("d.event_type = %s", f.Type)
	}
	if f.ErrorContains != "" {
		p.where("strpos(lower(d.error), lower(%s)) > 0", f.ErrorContains)
	}
	if !f.FailedAfter.IsZero() {
		p.where("d.first_failed_at >= %s", f.FailedAfter)
	}
	if !f.FailedBefore.IsZero() {
		p.where("d.first_failed_at < %s", f.FailedBefore)
	}
}

func (p *dlParams) and() string {
	if len(p.conds) == 0 {
		return ""
	}
	return " AND " + strings.Join(p.conds, " AND ")
}

// Discard implements Store.
func (s *PostgresStore) Discard(ctx context.Context, sub string, id int64, by string) error {
	var p dlParams
	p.where("d.id = %s", id)
	res, err := s.discard(ctx, sub, by, &p)
	if err != nil {
		return err
	}
	if res.DeadLetters == 0 {
		return fmt.Errorf("%w: dead letter %d of %q", ErrNotFound, id, sub)
	}
	return nil
}

// DiscardDeadLetters implements Store.
func (s *PostgresStore) DiscardDeadLetters(ctx context.Context, f DeadLetterFilter, by string) (BulkResult, error) {
	if err := f.Validate(); err != nil {
		return BulkResult{}, err
	}
	var p dlParams
	p.filter(f)
	res, err := s.discard(ctx, f.Subscription, by, &p)
	if err == nil && res.DeadLetters == 0 {
		_, err = s.Subscription(ctx, f.Subscription) // unknown: ErrNotFound
	}
	return res, err
}

// discard deletes the dead letters of sub that p's conditions select,
// remembers their events and releases the rest of the keys whose first
// dead letter went, in one statement (one transaction: a dead letter is
// never deleted without being remembered). The matched rows are locked
// first, so one a concurrent retry removes is not counted twice.
func (s *PostgresStore) discard(ctx context.Context, sub, by string, p *dlParams) (BulkResult, error) {
	subArg, lineage, who := p.arg(sub), p.arg(Lineage(sub)), p.arg(storableActor(by))
	sql := `WITH m AS (
			SELECT d.id, d.partition, x.partitions, d.key, d.event_id, d.stream_id, d.version, d.event_type, d.error
			  FROM ` + s.t.dls + ` d JOIN ` + s.t.subs + ` x ON x.name = d.subscription
			 WHERE d.subscription = ` + subArg + p.and() + `
			   FOR UPDATE OF d),
		firsts AS (
			SELECT DISTINCT ON (d.partition, d.key) d.partition, d.key, d.id
			  FROM ` + s.t.dls + ` d JOIN (SELECT DISTINCT partition, key FROM m) k
			    ON d.partition = k.partition AND d.key = k.key
			 WHERE d.subscription = ` + subArg + `
			 ORDER BY d.partition, d.key, d.event_tx, d.event_pos),
		ins AS (
			INSERT INTO ` + s.t.discarded + ` (lineage, event_id, subscription, partition, partitions, key,
				stream_id, version, event_type, error, discarded_by)
			SELECT ` + lineage + `, m.event_id, ` + subArg + `, m.partition, m.partitions, m.key,
				m.stream_id, m.version, m.event_type, m.error, ` + who + ` FROM m
			ON CONFLICT (lineage, event_id) DO UPDATE SET
				subscription = excluded.subscription, partition = excluded.partition,
				partitions = excluded.partitions, key = excluded.key, error = excluded.error,
				discarded_at = now(), discarded_by = excluded.discarded_by
			RETURNING 1), -- runs to completion unreferenced, as every data-modifying WITH
		del AS (
			DELETE FROM ` + s.t.dls + ` d USING m WHERE d.id = m.id RETURNING 1),
		rel AS (
			UPDATE ` + s.t.dls + ` d SET retry_requested = true
			  FROM firsts f
			 WHERE f.id IN (SELECT id FROM m)
			   AND d.subscription = ` + subArg + ` AND d.partition = f.partition AND d.key = f.key
			   AND NOT EXISTS (SELECT 1 FROM m WHERE m.id = d.id)
			RETURNING d.partition, d.key)
		SELECT (SELECT count(*) FROM del),
		       (SELECT count(*) FROM (SELECT DISTINCT partition, key FROM rel) r)`
	var res BulkResult
	if err := s.pool.QueryRow(ctx, sql, p.args...).Scan(&res.DeadLetters, &res.Keys); err != nil {
		return BulkResult{}, wrap("discard dead letters", err)
	}
	if res.Keys > 0 { // keys released: their other dead letters flow again
		s.announceRetry(ctx, sub)
	}
	return res, nil
}

// RetryDeadLetters implements Store.
func (s *PostgresStore) RetryDeadLetters(ctx context.Context, f DeadLetterFilter) (BulkResult, error) {
	if err := f.Validate(); err != nil {
		return BulkResult{}, err
	}
	var p dlParams
	subArg := p.arg(f.Subscription)
	p.filter(f)
	var res BulkResult
	err := s.pool.QueryRow(ctx, `WITH k AS (
			SELECT DISTINCT d.partition, d.key FROM `+s.t.dls+` d WHERE d.subscription = `+subArg+p.and()+`),
		up AS (
			UPDATE `+s.t.dls+` d SET retry_requested = true FROM k
			 WHERE d.subscription = `+subArg+` AND d.partition = k.partition AND d.key = k.key
			RETURNING 1)
		SELECT (SELECT count(*) FROM up), (SELECT count(*) FROM k)`, p.args...).Scan(&res.DeadLetters, &res.Keys)
	if err != nil {
		return BulkResult{}, wrap("retry dead letters", err)
	}
	if res.DeadLetters > 0 {
		s.announceRetry(ctx, f.Subscription)
	}
	if res.DeadLetters == 0 {
		_, err = s.Subscription(ctx, f.Subscription)
	}
	return res, err
}

// DiscardedIDs implements Store: three index range scans of
// discarded_events_partition (this partition count and partition; lower
// counts; higher counts).
func (s *PostgresStore) DiscardedIDs(ctx context.Context, sub string, partition int) (EventSet, error) {
	rows, err := s.pool.Query(ctx, `SELECT d.event_id FROM `+s.t.discarded+` d JOIN `+s.t.subs+` x ON x.name = $1
		 WHERE d.lineage = $2 AND d.partitions = x.partitions AND d.partition = $3
		UNION ALL
		SELECT d.event_id FROM `+s.t.discarded+` d JOIN `+s.t.subs+` x ON x.name = $1
		 WHERE d.lineage = $2 AND d.partitions < x.partitions
		UNION ALL
		SELECT d.event_id FROM `+s.t.discarded+` d JOIN `+s.t.subs+` x ON x.name = $1
		 WHERE d.lineage = $2 AND d.partitions > x.partitions`, sub, Lineage(sub), partition)
	if err != nil {
		return nil, wrap("discarded events", err)
	}
	defer rows.Close()
	set := EventSet{}
	var id [16]byte
	_, err = pgx.ForEachRow(rows, []any{&id}, func() error {
		set[id] = struct{}{}
		return nil
	})
	if err != nil {
		return nil, wrap("discarded events", err)
	}
	return set, nil
}

// IsDiscarded implements Store.
func (s *PostgresStore) IsDiscarded(ctx context.Context, sub string, eventID uuid.UUID) (bool, error) {
	var yes bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+s.t.discarded+` WHERE lineage = $1 AND event_id = $2)`,
		Lineage(sub), [16]byte(eventID)).Scan(&yes)
	if err != nil {
		return false, wrap("is discarded", err)
	}
	return yes, nil
}

// DiscardedEvents implements Store.
func (s *PostgresStore) DiscardedEvents(ctx context.Context, q DiscardedQuery) ([]DiscardedEvent, error) {
	if q.Subscription == "" {
		return nil, errors.New("checkpoint: discarded events: a subscription is required")
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.pool.Query(ctx, `SELECT id, lineage, event_id, subscription, partition, partitions, key, stream_id,
			version, event_type, error, discarded_at, discarded_by
		FROM `+s.t.discarded+` WHERE lineage = $1 AND id > $2 ORDER BY id LIMIT $3`, Lineage(q.Subscription), q.AfterID, limit)
	if err != nil {
		return nil, wrap("list discarded events", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (DiscardedEvent, error) {
		var (
			d  DiscardedEvent
			id [16]byte
			at time.Time
		)
		err := r.Scan(&d.ID, &d.Lineage, &id, &d.Subscription, &d.Partition, &d.Partitions, &d.Key, &d.StreamID,
			&d.Version, &d.Type, &d.Error, &at, &d.DiscardedBy)
		d.EventID, d.DiscardedAt = id, at
		return d, err
	})
	if err != nil {
		return nil, wrap("list discarded events", err)
	}
	return out, nil
}
