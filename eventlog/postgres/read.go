package postgres

import (
	"context"
	"fmt"
	"iter"
	"math"

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
		lastTx  uint64      // a filtered read's last row below the horizon,
		lastSeq int64  = -1 // filtered out or not; -1: there is none
		dec     *rowDecoder
	)
	batch.Events = make([]eventlog.Event, 0, min(limit, 1024))
	for rows.Next() {
		vals := rows.RawValues()
		if dec == nil {
			off := 0
			if shape != 0 {
				// A filtered read's last row columns come first, the
				// same on every row.
				off = 2
				if err := rows.Scan(&lastTx, &lastSeq, nil, nil, nil, nil, nil, nil, nil, nil, nil); err != nil {
					return eventlog.Batch{}, s.wrap("read log", err)
				}
			}
			if dec, err = newRowDecoder(rows, off); err != nil {
				return eventlog.Batch{}, s.wrap("read log", err)
			}
		}
		if dec.isNull(vals) { // no qualifying event: only the last row came back
			continue
		}
		batch.Events = append(batch.Events, eventlog.Event{})
		if err := dec.decode(vals, &batch.Events[len(batch.Events)-1]); err != nil {
			return eventlog.Batch{}, s.wrap("read log", err)
		}
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

func (s *Store) query(ctx context.Context, db dbtx, sql string, args ...any) ([]eventlog.Event, error) {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var (
		out []eventlog.Event
		dec *rowDecoder
	)
	for rows.Next() {
		if dec == nil {
			if dec, err = newRowDecoder(rows, 0); err != nil {
				return nil, err
			}
		}
		out = append(out, eventlog.Event{})
		if err := dec.decode(rows.RawValues(), &out[len(out)-1]); err != nil {
			return nil, err
		}
	}
	return out, rows.Err()
}
