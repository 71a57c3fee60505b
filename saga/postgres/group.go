package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/causewayhq/causeway/internal/groupcommit"
	"github.com/causewayhq/causeway/saga"
)

// Group commit of outcomes: concurrent Records share transactions.
//
// An executor runs many instances at once (Concurrency slots), and each
// step's outcome must be committed before the instance's next step runs:
// with durable settings that is a round trip and a WAL flush per step, most
// of a no-op saga's cost. The group keeps at most RecordInFlight record
// transactions running from this store (RecordInFlight). A Record that finds one free runs
// at once (a lone record waits for nothing); records arriving while all
// are busy queue, and the next free transaction takes every queued one (up
// to groupMaxRecords) in one statement: one round trip, one commit.
//
// A batch skips the rows a filing of an inbox event holds (AddInbox locks
// the instance's row until its transaction commits) rather than wait for
// them holding its other rows, which could deadlock with a filing that
// locks the same rows in another order; a skipped record runs again alone.
//
// Only outcomes without effects (no emitted events, no enqueued messages,
// no consumed inbox entry) and not parking at a wait step go through the
// group; the others keep their own transaction (Record). Each record in a
// batch is fenced on its own claimed version, so a lost lease affects that
// record alone. If the batch statement fails as a whole (PostgreSQL
// refusing one state, a lost connection), each record runs again alone in
// its own transaction, so one bad record costs the others a retry, never
// their result; a record whose batch committed is never applied twice, its
// version fence refuses the second write (reported as ErrLeaseLost only
// when the connection was lost mid-commit, as any ambiguous commit).
type recordGroup struct {
	s *Store
	g groupcommit.Group[*recordReq, saga.Instance]
}

// recordReq is one Record waiting in the group.
type recordReq struct {
	claimed, next saga.Instance
	h             saga.HistoryEntry
	keep          time.Duration
}

type recordItem = groupcommit.Item[*recordReq, saga.Instance]

type recordOutcome struct {
	inst saga.Instance
	err  error
	// alone: the batch did not store it; it must run on its own.
	alone bool
}

const (
	// DefaultRecordInFlight bounds the record transactions running at
	// once from one store (RecordInFlight).
	DefaultRecordInFlight = 2
	// groupMaxRecords bounds a batch.
	groupMaxRecords = 256
)

func newRecordGroup(s *Store) *recordGroup {
	g := &recordGroup{s: s}
	g.g = groupcommit.Group[*recordReq, saga.Instance]{InFlight: DefaultRecordInFlight, MaxBatch: groupMaxRecords, Exec: g.exec}
	return g
}

// record queues an outcome and waits for it to be stored. If ctx ends
// while it is still queued, it is withdrawn (nothing written).
func (g *recordGroup) record(ctx context.Context, claimed, next saga.Instance, h saga.HistoryEntry, keep time.Duration) (saga.Instance, error) {
	return g.g.Submit(ctx, &recordReq{claimed: claimed, next: next, h: h, keep: keep})
}

// exec runs one batch and hands each record its outcome.
func (g *recordGroup) exec(batch []*recordItem) {
	ctx, cancel := groupcommit.BatchContext(batch)
	defer cancel()
	alone := func(ctx context.Context, it *recordItem) {
		r := it.Req
		it.Finish(g.s.record(ctx, g.s.pool, r.claimed, r.next, r.h, r.keep))
	}
	if len(batch) == 1 {
		alone(ctx, batch[0])
		return
	}
	reqs := make([]*recordReq, len(batch))
	for i, it := range batch {
		reqs[i] = it.Req
	}
	outs, err := g.s.recordBatch(ctx, reqs)
	if err == nil {
		var again []*recordItem
		for i, it := range batch {
			if outs[i].alone {
				again = append(again, it)
				continue
			}
			it.Finish(outs[i].inst, outs[i].err)
		}
		for _, it := range again {
			alone(it.Ctx, it)
		}
		return
	}
	// Nothing of the batch was written (or, if the connection was lost at
	// the commit, perhaps all of it, which each record's version fence
	// then refuses): run each record alone.
	for _, it := range batch {
		alone(it.Ctx, it)
	}
}

// recordBatchSQL is recordSQL for many instances at once: the arrays hold
// one element per record, ord numbers them from 1.
func (s *Store) recordBatchSQL() string {
	return `WITH r AS (
		SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::jsonb[], $4::text[], $5::int[], $6::int[], $7::timestamptz[],
			$8::timestamptz[], $9::text[], $10::text[], $11::interval[], $12::text[], $13::text[], $14::int[], $15::text[], $16::text[], $17::text[])
			WITH ORDINALITY AS r(id, version, state, status, step, attempts, next_attempt_at, wait_deadline, last_error,
				lease_owner, keep, h_step, h_phase, h_attempt, h_outcome, h_error, wait_event, ord)),
	-- Rows a filing holds (AddInbox) are skipped, not waited for: their
	-- records run again alone, so a batch never waits holding other rows.
	l AS (
		SELECT s.id FROM ` + s.sagas + ` s JOIN r ON s.id = r.id AND s.version = r.version
		FOR NO KEY UPDATE OF s SKIP LOCKED),
	u AS (
		UPDATE ` + s.sagas + ` s SET state = r.state, status = r.status, step = r.step, attempts = r.attempts,
			next_attempt_at = r.next_attempt_at, wait_deadline = r.wait_deadline, last_error = r.last_error,
			wait_event = r.wait_event, version = s.version + 1, updated_at = now(), lease_owner = r.lease_owner,
			lease_expires_at = CASE WHEN r.lease_owner IS NULL THEN NULL ELSE now() + r.keep END
		FROM r WHERE s.id = r.id AND s.version = r.version AND s.id IN (SELECT id FROM l)
		RETURNING r.ord, s.version, coalesce(s.lease_expires_at, 'epoch') AS lease_expires_at,
			s.saga_type, s.correlation_id, r.status, r.h_step, r.h_phase, r.h_attempt, r.h_outcome, r.h_error, s.id),
	h AS (
		INSERT INTO ` + s.history + ` (saga_id, step, phase, attempt, outcome, error)
		SELECT id, h_step, h_phase, h_attempt, h_outcome, h_error FROM u WHERE h_step <> '' ORDER BY ord),
	-- A finished instance needs its filed events no more.
	i AS (
		DELETE FROM ` + s.inbox + ` x USING u
		 WHERE u.status IN ('completed', 'compensated', 'cancelled')
		   AND x.saga_type = u.saga_type AND x.correlation_id = u.correlation_id)
	SELECT ord, version, lease_expires_at FROM u`
}

// recordBatch stores a batch's outcomes in one statement (one transaction)
// and returns each one's outcome, in order. An error means the statement
// failed as a whole.
func (s *Store) recordBatch(ctx context.Context, batch []*recordReq) ([]recordOutcome, error) {
	n := len(batch)
	args, nexts := batchArgsNexts(batch)
	rows, err := s.pool.Query(ctx, s.recordBatchSQL(), args...)
	if err != nil {
		return nil, err
	}
	stored := make([]bool, n)
	for rows.Next() {
		var (
			ord        int64
			version    int64
			leaseUntil time.Time
		)
		if err := rows.Scan(&ord, &version, &leaseUntil); err != nil {
			rows.Close()
			return nil, err
		}
		if ord < 1 || int(ord) > n || stored[ord-1] {
			rows.Close()
			return nil, fmt.Errorf("saga/postgres: record batch: unexpected result for record %d of %d", ord, n)
		}
		i := ord - 1
		stored[i] = true
		next := &nexts[i]
		next.Version = version
		if batch[i].keep > 0 {
			next.LeaseOwner, next.LeaseExpiresAt = batch[i].claimed.LeaseOwner, unEpoch(leaseUntil)
		} else {
			next.LeaseOwner, next.LeaseExpiresAt = "", time.Time{}
		}
	}
	// Only now is the batch committed: a failure of the commit shows here.
	if err := rows.Err(); err != nil {
		return nil, err
	}
	outs := make([]recordOutcome, n)
	for i := range batch {
		if !stored[i] {
			// Its lease is lost, or a filing holds its row: alone, the
			// record tells which (waiting for the filing if need be).
			outs[i] = recordOutcome{alone: true}
			continue
		}
		outs[i] = recordOutcome{inst: nexts[i]}
	}
	return outs, nil
}

// batchArgsNexts returns recordBatchSQL's arguments and each record's
// instance as it is stored (text sanitized).
func batchArgsNexts(batch []*recordReq) ([]any, []saga.Instance) {
	n := len(batch)
	var (
		ids       = make([][16]byte, n)
		versions  = make([]int64, n)
		states    = make([][]byte, n)
		statuses  = make([]string, n)
		steps     = make([]int32, n)
		attempts  = make([]int32, n)
		nextAt    = make([]*time.Time, n)
		deadlines = make([]*time.Time, n)
		lastErrs  = make([]string, n)
		owners    = make([]*string, n)
		keeps     = make([]string, n)
		hSteps    = make([]string, n)
		hPhases   = make([]string, n)
		hAttempts = make([]int32, n)
		hOutcomes = make([]string, n)
		hErrors   = make([]string, n)
		waits     = make([]string, n)
		nexts     = make([]saga.Instance, n)
	)
	for i, r := range batch {
		next, h := saga.StorableOutcome(r.next, r.h)
		nexts[i] = next
		ids[i], versions[i] = r.claimed.ID, r.claimed.Version
		states[i], statuses[i], steps[i], attempts[i] = next.State, string(next.Status), int32(next.Step), int32(next.Attempts)
		nextAt[i], deadlines[i], lastErrs[i] = nullTime(next.NextAttemptAt), nullTime(next.WaitDeadline), next.LastError
		if r.keep > 0 {
			owners[i] = &r.claimed.LeaseOwner
		}
		keeps[i] = interval(r.keep)
		hSteps[i], hPhases[i], hAttempts[i], hOutcomes[i], hErrors[i] = h.Step, string(h.Phase), int32(h.Attempt), string(h.Outcome), h.Error
		waits[i] = next.WaitEvent
	}
	return []any{ids, versions, states, statuses, steps, attempts, nextAt, deadlines, lastErrs,
		owners, keeps, hSteps, hPhases, hAttempts, hOutcomes, hErrors, waits}, nexts
}
