package postgres

import (
	"context"
	"fmt"
	"iter"
	"math"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/eventlog"
)

// ReadStream yields a stream's events in version order (or reverse), paging
// DefaultBatchSize at a time. Stream reads see every committed event of the
// stream: versions are dense, so there is no horizon to respect.
func (s *Store) ReadStream(ctx context.Context, streamID string, opts eventlog.ReadStreamOptions) iter.Seq2[eventlog.Event, error] {
	return func(yield func(eventlog.Event, error) bool) {
		if err := eventlog.ValidateStreamID(streamID); err != nil {
			yield(eventlog.Event{}, err)
			return
		}
		from, remaining := opts.From, opts.Limit
		query := s.sql.streamFwd
		if opts.Direction == eventlog.Backwards {
			query = s.sql.streamBwd
			if from <= 0 {
				from = math.MaxInt64
			}
		}
		for {
			page := eventlog.DefaultBatchSize
			if remaining > 0 && remaining < page {
				page = remaining
			}
			events, err := s.query(ctx, s.pool, query, streamID, from, page)
			if err != nil {
				yield(eventlog.Event{}, s.wrap(fmt.Sprintf("read stream %q", streamID), err))
				return
			}
			for _, e := range events {
				if !yield(e, nil) {
					return
				}
			}
			if len(events) < page {
				return
			}
			if remaining > 0 {
				if remaining -= len(events); remaining == 0 {
					return
				}
			}
			last := events[len(events)-1].Version
			if opts.Direction == eventlog.Backwards {
				from = last - 1
			} else {
				from = last + 1
			}
		}
	}
}

// ReadBatch returns up to limit visible events after a position.
func (s *Store) ReadBatch(ctx context.Context, after eventlog.Position, filter eventlog.Filter, limit int) (eventlog.Batch, error) {
	return s.readBatch(ctx, s.pool, after, filter, limit)
}

// ReadBatchTx is ReadBatch inside a caller's transaction. Use a READ
// COMMITTED transaction that has not written (an id held by the reader's own
// transaction would hold its own horizon back).
func (s *Store) ReadBatchTx(ctx context.Context, tx pgx.Tx, after eventlog.Position, filter eventlog.Filter, limit int) (eventlog.Batch, error) {
	return s.readBatch(ctx, tx, after, filter, limit)
}

func (s *Store) readBatch(ctx context.Context, db dbtx, after eventlog.Position, filter eventlog.Filter, limit int) (eventlog.Batch, error) {
	if limit <= 0 {
		limit = eventlog.DefaultBatchSize
	}
	shape, args := filterArgs(filter, after.TxID, after.Seq, limit)
	rows, err := db.Query(ctx, s.sql.batch[shape], args...)
	if err != nil {
		return eventlog.Batch{}, s.wrap("read log", err)
	}
	defer rows.Close()
	var (
		batch   eventlog.Batch
		lastTx  uint64 // the last row below the horizon, filtered or not
		lastSeq int64  // -1: there is none
	)
	batch.Events = make([]eventlog.Event, 0, min(limit, 1024))
	for rows.Next() {
		var (
			txID *uint64
			e    eventlog.Event
			scan rawEvent
		)
		if err := rows.Scan(&lastTx, &lastSeq, &txID, &scan.seq, &scan.id, &scan.stream, &scan.version, &scan.typ, &scan.data, &scan.meta, &scan.recorded); err != nil {
			return eventlog.Batch{}, s.wrap("read log", err)
		}
		if txID == nil { // no qualifying event: only the last row came back
			continue
		}
		scan.tx = *txID
		if err := scan.into(&e); err != nil {
			return eventlog.Batch{}, s.wrap("read log", err)
		}
		batch.Events = append(batch.Events, e)
	}
	if err := rows.Err(); err != nil {
		return eventlog.Batch{}, s.wrap("read log", err)
	}
	batch.Next = after
	if n := len(batch.Events); n > 0 {
		batch.Next = batch.Events[n-1].Position
	}
	if len(batch.Events) < limit {
		// Everything visible below the horizon that matches was returned, so
		// the cursor may skip the filtered-out rows up to the last row below
		// it — a committed row, whose id no transaction gets again, even
		// after crash recovery (unlike the horizon's).
		batch.CaughtUp = true
		if lastSeq >= 0 {
			if p := (eventlog.Position{TxID: lastTx, Seq: lastSeq}); batch.Next.Before(p) {
				batch.Next = p
			}
		}
	}
	return batch, nil
}

// ReadAll implements eventlog.Store.
func (s *Store) ReadAll(ctx context.Context, after eventlog.Position, filter eventlog.Filter) iter.Seq2[eventlog.Event, error] {
	return eventlog.ReadAllBatches(ctx, s.ReadBatch, after, filter)
}

// Head returns the position of the last visible event, or Start.
func (s *Store) Head(ctx context.Context) (eventlog.Position, error) {
	var p eventlog.Position
	err := s.pool.QueryRow(ctx, s.sql.head).Scan(&p.TxID, &p.Seq)
	if err == pgx.ErrNoRows {
		return eventlog.Start, nil
	}
	if err != nil {
		return eventlog.Start, s.wrap("read head", err)
	}
	return p, nil
}

// CountBetween counts visible matching events in (from, to].
func (s *Store) CountBetween(ctx context.Context, from, to eventlog.Position, filter eventlog.Filter) (int64, error) {
	if !from.Before(to) {
		return 0, nil
	}
	shape, args := filterArgs(filter, from.TxID, from.Seq, to.TxID, to.Seq)
	var n int64
	err := s.pool.QueryRow(ctx, s.sql.count[shape], args...).Scan(&n)
	if err != nil {
		return 0, s.wrap("count events", err)
	}
	return n, nil
}

// rawEvent holds one scanned row before conversion.
type rawEvent struct {
	tx       uint64
	seq      int64
	id       [16]byte
	stream   string
	version  int64
	typ      string
	data     []byte
	meta     []byte
	recorded time.Time
}

var emptyObject = []byte("{}")

func (r *rawEvent) into(e *eventlog.Event) error {
	*e = eventlog.Event{
		ID:         uuid.UUID(r.id),
		StreamID:   r.stream,
		Version:    r.version,
		Type:       r.typ,
		Data:       r.data,
		RecordedAt: r.recorded,
		Position:   eventlog.Position{TxID: r.tx, Seq: r.seq},
	}
	if len(r.meta) > 0 && string(r.meta) != string(emptyObject) {
		if err := decodeMetadata(r.meta, &e.Metadata); err != nil {
			return fmt.Errorf("event %s: decode metadata: %w", e.ID, err)
		}
	}
	return nil
}

func (s *Store) query(ctx context.Context, db dbtx, sql string, args ...any) ([]eventlog.Event, error) {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []eventlog.Event
	for rows.Next() {
		var r rawEvent
		if err := rows.Scan(&r.tx, &r.seq, &r.id, &r.stream, &r.version, &r.typ, &r.data, &r.meta, &r.recorded); err != nil {
			return nil, err
		}
		var e eventlog.Event
		if err := r.into(&e); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
