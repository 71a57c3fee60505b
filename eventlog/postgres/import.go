package postgres

import (
	"context"
	"errors"
	"fmt"
	"iter"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/causewayhq/causeway/eventlog"
)

// ImportEvent is one event of a bulk import.
type ImportEvent struct {
	StreamID string
	eventlog.EventData
}

// ImportResult counts what an import wrote.
type ImportResult struct {
	Events  int64
	Streams int64
}

// ErrStreamExists is returned by Import when a stream it would create already
// has events (possibly appended concurrently). Nothing was imported.
var ErrStreamExists = errors.New("eventlog/postgres: import: stream already exists")

// Import bulk-loads new streams with COPY, in one transaction: all or nothing.
// Events of one stream get versions 1, 2, … in the order given; they may be
// interleaved with other streams' events. Every stream must be new: an
// existing stream, or one appended to concurrently, fails the import with
// ErrStreamExists. Because imported streams are new, the (stream_id,
// version) key makes any concurrent writer of the same stream collide on
// version 1, so no advisory locks are needed to keep the global order.
// Ids are not deduplicated: a repeated id fails the import.
//
// The import transaction holds the log's horizon while it runs: readers see
// none of the imported events until it commits, and none after them either.
func (s *Store) Import(ctx context.Context, events iter.Seq[ImportEvent]) (ImportResult, error) {
	var res ImportResult
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		versions := make(map[string]int64)
		next, stop := iter.Pull(events)
		defer stop()
		var (
			cur     ImportEvent
			current []any
			failure error
		)
		src := pgx.CopyFromFunc(func() ([]any, error) {
			var ok bool
			cur, ok = next()
			if !ok {
				return nil, nil
			}
			v := versions[cur.StreamID] + 1
			prepared, err := eventlog.Prepare(cur.StreamID, []eventlog.EventData{cur.EventData}, s.maxPayload, newEventID)
			if err != nil {
				var ve *eventlog.ValidationError
				if errors.As(err, &ve) {
					ve.Index = int(res.Events)
				}
				failure = err
				return nil, err
			}
			versions[cur.StreamID] = v
			p := prepared[0]
			current = append(current[:0], [16]byte(p.ID), cur.StreamID, v, p.Type, []byte(p.Data), p.MetadataJSON)
			res.Events++
			return current, nil
		})
		_, err := tx.CopyFrom(ctx, pgx.Identifier{s.schema, "events"},
			[]string{"event_id", "stream_id", "version", "type", "data", "metadata"}, src)
		if failure != nil {
			return failure
		}
		res.Streams = int64(len(versions))
		return err
	})
	if err != nil {
		return ImportResult{}, s.importError(err)
	}
	s.Hint()
	return res, nil
}

func (s *Store) importError(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		switch pgErr.ConstraintName {
		case "events_stream_version_key":
			return fmt.Errorf("%w: %s", ErrStreamExists, pgErr.Detail)
		case "events_event_id_key":
			return fmt.Errorf("%w: %s", eventlog.ErrDuplicateEventID, pgErr.Detail)
		}
	}
	if errors.Is(err, eventlog.ErrInvalidEvent) {
		return err
	}
	if errors.As(err, &pgErr) && payloadRefused(pgErr) {
		return &eventlog.ValidationError{Index: -1, Reason: "PostgreSQL refused the payload: " + pgErr.Message, Err: eventlog.ErrInvalidData}
	}
	return s.wrap("import", err)
}
