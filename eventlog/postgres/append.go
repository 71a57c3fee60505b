package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/causewayhq/causeway/eventlog"
)

// Result codes of the append_events function.
const (
	codeAppended     = 0
	codeDuplicate    = 1
	codeWrongVersion = 2
	codeIDsElsewhere = 3
	codeOrder        = 4
)

// Append writes events to one stream in its own transaction and, after the
// commit, sends the coalesced wake-up hint. Concurrent appends share
// transactions (group commit, see group.go) unless Config.DisableGroupCommit.
func (s *Store) Append(ctx context.Context, streamID string, expected eventlog.ExpectedVersion, events ...eventlog.EventData) (eventlog.AppendResult, error) {
	a, err := s.prepare(ctx, streamID, expected, events)
	if err != nil {
		return eventlog.AppendResult{}, err
	}
	var res eventlog.AppendResult
	if s.group != nil {
		res, err = s.group.append(ctx, a)
	} else {
		res, err = s.appendOwn(ctx, a)
	}
	if err == nil && !res.Duplicate {
		s.wake(a.notified)
	}
	return res, err
}

// AppendTx writes events to one stream inside the caller's transaction, so
// they commit (or roll back) with whatever else the transaction does. After
// the commit, call Hint for a prompt wake-up of tailers.
//
// If the transaction already wrote before this call, it already has an id;
// when a later writer of the same stream committed meanwhile, the append is
// refused with an error matching eventlog.ErrAppendOrderConflict, and the
// whole transaction should be rolled back and retried. A unique-key violation
// (an id stored by a concurrent append, or a stale REPEATABLE READ snapshot)
// aborts the transaction as PostgreSQL always does.
func (s *Store) AppendTx(ctx context.Context, tx pgx.Tx, streamID string, expected eventlog.ExpectedVersion, events ...eventlog.EventData) (eventlog.AppendResult, error) {
	if tx == nil {
		return eventlog.AppendResult{}, errors.New("eventlog/postgres: AppendTx: nil transaction")
	}
	a, err := s.prepare(ctx, streamID, expected, events)
	if err != nil {
		return eventlog.AppendResult{}, err
	}
	return s.appendOne(ctx, tx, a, s.sql.append)
}

// pendingAppend is one append, validated and encoded.
type pendingAppend struct {
	stream    string
	expected  eventlog.ExpectedVersion
	lock      int64
	callerIDs bool // the caller chose ids: check for a retried append
	notified  bool // its committed transaction carried the wake-up notification
	ids       []uuid.UUID
	rawIDs    [][16]byte // pgx encodes [16]byte natively; uuid.UUID would go through its string form
	types     []string
	data      []json.RawMessage
	meta      []json.RawMessage
}

// prepare validates and encodes an append; nothing is written.
func (s *Store) prepare(ctx context.Context, streamID string, expected eventlog.ExpectedVersion, events []eventlog.EventData) (*pendingAppend, error) {
	if !expected.Valid() {
		return nil, fmt.Errorf("eventlog/postgres: append to %q: invalid expected version %d", streamID, int64(expected))
	}
	a := &pendingAppend{stream: streamID, expected: expected, lock: s.lockKey(streamID)}
	for i := range events {
		if events[i].ID != uuid.Nil {
			a.callerIDs = true
			break
		}
	}
	if s.cfg.Enrich != nil {
		events = slices.Clone(events) // never write into the caller's slice
		for i := range events {
			s.cfg.Enrich(ctx, &events[i].Metadata)
		}
	}
	prepared, err := eventlog.Prepare(streamID, events, s.maxPayload, newEventID)
	if err != nil {
		return nil, err
	}
	n := len(prepared)
	a.ids, a.rawIDs = make([]uuid.UUID, n), make([][16]byte, n)
	a.types, a.data, a.meta = make([]string, n), make([]json.RawMessage, n), make([]json.RawMessage, n)
	for i, e := range prepared {
		a.ids[i], a.rawIDs[i], a.types[i], a.data[i], a.meta[i] = e.ID, e.ID, e.Type, e.Data, e.MetadataJSON
	}
	return a, nil
}

// appendOwn runs one prepared append in a transaction of its own, carrying
// the wake-up notification when the notifier's window allows (then
// a.notified is set once it committed).
func (s *Store) appendOwn(ctx context.Context, a *pendingAppend) (eventlog.AppendResult, error) {
	if !s.carryNotify() {
		return s.appendOne(ctx, s.pool, a, s.sql.append)
	}
	res, err := s.appendOne(ctx, s.pool, a, s.sql.appendNotify, s.channel)
	s.carried(err == nil)
	a.notified = err == nil
	return res, err
}

// appendOne runs one prepared append in db (a transaction, or the pool:
// then in a transaction of its own) with sql (append, or appendNotify with
// the channel in extra).
func (s *Store) appendOne(ctx context.Context, db dbtx, a *pendingAppend, sql string, extra ...any) (eventlog.AppendResult, error) {
	var (
		code      int
		version   int64
		positions []int64
		txID      *uint64
	)
	args := append([]any{a.stream, int64(a.expected), a.lock, a.callerIDs, a.rawIDs, a.types, a.data, a.meta}, extra...)
	err := db.QueryRow(ctx, sql, args...).Scan(&code, &version, &positions, &txID)
	if err != nil {
		return eventlog.AppendResult{}, s.appendError(a.stream, err)
	}
	return s.appendResult(ctx, db, a, code, version, positions, txID)
}

// appendResult turns append_events' (or append_events_batch's) result
// row into the append's result or typed error.
func (s *Store) appendResult(ctx context.Context, db dbtx, a *pendingAppend, code int, version int64, positions []int64, txID *uint64) (eventlog.AppendResult, error) {
	streamID, expected := a.stream, a.expected
	switch code {
	case codeAppended, codeDuplicate:
		res := eventlog.AppendResult{NextExpectedVersion: version, IDs: a.ids, Duplicate: code == codeDuplicate}
		res.Positions = make([]eventlog.Position, len(positions))
		for i, p := range positions {
			res.Positions[i].Seq = p
		}
		if txID != nil {
			for i := range res.Positions {
				res.Positions[i].TxID = *txID
			}
		} else if len(positions) > 0 {
			// Duplicate: the positions belong to the original append.
			if err := s.fillTxIDs(ctx, db, res.Positions); err != nil {
				return eventlog.AppendResult{}, err
			}
		}
		return res, nil
	case codeWrongVersion:
		return eventlog.AppendResult{}, &eventlog.VersionConflictError{StreamID: streamID, Expected: expected, Actual: version}
	case codeIDsElsewhere:
		return eventlog.AppendResult{}, fmt.Errorf("%w: append to %q", eventlog.ErrDuplicateEventID, streamID)
	case codeOrder:
		return eventlog.AppendResult{}, fmt.Errorf("%w: stream %q was written by a transaction that started after this one", eventlog.ErrAppendOrderConflict, streamID)
	}
	return eventlog.AppendResult{}, fmt.Errorf("eventlog/postgres: append to %q: unexpected result code %d", streamID, code)
}

func (s *Store) fillTxIDs(ctx context.Context, db dbtx, ps []eventlog.Position) error {
	seqs := make([]int64, len(ps))
	for i, p := range ps {
		seqs[i] = p.Seq
	}
	rows, err := db.Query(ctx, s.sql.txIDsOf, seqs)
	if err != nil {
		return s.wrap("read positions", err)
	}
	byPos, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (eventlog.Position, error) {
		var p eventlog.Position
		err := r.Scan(&p.Seq, &p.TxID)
		return p, err
	})
	if err != nil {
		return s.wrap("read positions", err)
	}
	m := make(map[int64]uint64, len(byPos))
	for _, p := range byPos {
		m[p.Seq] = p.TxID
	}
	for i := range ps {
		ps[i].TxID = m[ps[i].Seq]
	}
	return nil
}

// appendError maps PostgreSQL errors to the eventlog's typed errors.
func (s *Store) appendError(streamID string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "23505" && pgErr.ConstraintName == "events_event_id_key":
			return fmt.Errorf("%w: append to %q: %s", eventlog.ErrDuplicateEventID, streamID, pgErr.Detail)
		case pgErr.Code == "23505" && pgErr.ConstraintName == "events_stream_version_key",
			pgErr.Code == "40001", pgErr.Code == "40P01":
			// A concurrent writer won (seen through a stale snapshot), or a
			// deadlock between multi-stream transactions: retry the transaction.
			return fmt.Errorf("%w: append to %q: %s", eventlog.ErrAppendOrderConflict, streamID, pgErr.Message)
		case payloadRefused(pgErr):
			return &eventlog.ValidationError{StreamID: streamID, Index: -1, Reason: "PostgreSQL refused the payload: " + pgErr.Message, Err: eventlog.ErrInvalidData}
		}
	}
	return s.wrap(fmt.Sprintf("append to %q", streamID), err)
}

// payloadRefused reports whether PostgreSQL refused an event's data or
// metadata (bad JSON or text, a number or value too large). eventlog.Prepare
// refuses these up front; this is the backstop.
func payloadRefused(pgErr *pgconn.PgError) bool {
	switch pgErr.Code {
	case "22P02", "22P05", "22003", "22021", "54000":
		return true
	}
	return false
}
