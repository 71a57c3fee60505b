package postgres

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/eventlog"
	pgstore "github.com/causewayhq/causeway/eventlog/postgres"
	"github.com/causewayhq/causeway/internal/groupcommit"
	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/saga"
)

func groupStore(t *testing.T, opts ...Option) *Store {
	t.Helper()
	schema, pool := pgtest.NewMigratedSchema(t)
	log, err := pgstore.New(pool, pgstore.Config{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(log.Close)
	s, err := New(log, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// claimN starts n instances of type g and claims them all.
func claimN(t *testing.T, s *Store, n int) []saga.Instance {
	t.Helper()
	ctx := pgtest.Context(t, time.Minute)
	for i := range n {
		inst := saga.Instance{ID: saga.InstanceID("g", fmt.Sprint(i)), Type: "g", CorrelationID: fmt.Sprint(i), State: json.RawMessage(`{}`),
			Status: saga.StatusRunning, NextAttemptAt: time.Now().Add(-time.Second)}
		if _, err := s.Start(ctx, nil, inst); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Claim(ctx, []string{"g"}, "x", n, time.Minute)
	if err != nil || len(got) != n {
		t.Fatalf("claim: %d, %v", len(got), err)
	}
	return got
}

func stepDone(inst saga.Instance) (saga.Instance, saga.HistoryEntry) {
	next := inst
	next.Step++
	return next, saga.HistoryEntry{Step: "s", Phase: saga.PhaseAction, Attempt: 1, Outcome: saga.OutcomeCompleted}
}

// TestGroupCommitSharesTransactions: records that queue while the store's
// record transactions are busy are written together, in one transaction,
// each with its own result.
func TestGroupCommitSharesTransactions(t *testing.T) {
	s := groupStore(t, RecordInFlight(1))
	ctx := pgtest.Context(t, time.Minute)
	insts := claimN(t, s, 5)
	// Hold the first instance's row so that its record keeps the one
	// record transaction busy while the others queue.
	blocker, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = blocker.Rollback(ctx) }()
	if _, err := blocker.Exec(ctx, `SELECT 1 FROM `+s.sagas+` WHERE id = $1 FOR UPDATE`, [16]byte(insts[0].ID)); err != nil {
		t.Fatal(err)
	}
	var (
		wg   sync.WaitGroup
		recs = make([]saga.Instance, len(insts))
		errs = make([]error, len(insts))
	)
	record := func(i int) {
		defer wg.Done()
		next, h := stepDone(insts[i])
		recs[i], errs[i] = s.Record(ctx, insts[i], next, h, saga.Effects{}, nil, time.Minute)
	}
	wg.Add(1)
	go record(0)
	waitGroupState(t, s, func(running, queued int) bool { return running == 1 && queued == 0 })
	for i := 1; i < len(insts); i++ {
		wg.Add(1)
		go record(i)
	}
	waitGroupState(t, s, func(_, queued int) bool { return queued == len(insts)-1 })
	if err := blocker.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	ids := make([][16]byte, 0, len(insts)-1)
	for i, inst := range insts {
		if errs[i] != nil || recs[i].Version != inst.Version+1 || recs[i].Step != 1 || recs[i].LeaseOwner != "x" {
			t.Fatalf("record %d: %+v, %v", i, recs[i], errs[i])
		}
		if h, _ := s.History(ctx, inst.ID); len(h) != 1 {
			t.Fatalf("record %d: history %+v", i, h)
		}
		if i > 0 {
			ids = append(ids, [16]byte(inst.ID))
		}
	}
	var txs int
	if err := s.pool.QueryRow(ctx, `SELECT count(DISTINCT xmin::text) FROM `+s.sagas+` WHERE id = ANY ($1)`, ids).Scan(&txs); err != nil {
		t.Fatal(err)
	}
	if txs != 1 {
		t.Fatalf("the %d queued records were written in %d transactions, want 1", len(ids), txs)
	}
}

func waitGroupState(t *testing.T, s *Store, ok func(running, queued int) bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if ok(s.group.g.State()) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the record group never reached the expected state")
		}
	}
}

// TestGroupCommitIsolatesRecords: in one batch a stale record is refused
// alone (its lease is lost), and a state PostgreSQL refuses fails the batch
// statement, after which each record runs alone: the others are stored,
// the bad one is refused for good.
func TestGroupCommitIsolatesRecords(t *testing.T) {
	s := groupStore(t)
	ctx := pgtest.Context(t, time.Minute)
	insts := claimN(t, s, 4)
	req := func(i int, state string, stale bool) *recordItem {
		claimed := insts[i]
		if stale {
			claimed.Version--
		}
		next, h := stepDone(insts[i])
		if state != "" {
			next.State = json.RawMessage(state)
		}
		return groupcommit.NewItem[*recordReq, saga.Instance](ctx, &recordReq{claimed: claimed, next: next, h: h, keep: 0})
	}
	// Stale among good ones: one statement, one lease lost.
	batch := []*recordItem{req(0, "", false), req(1, "", true)}
	s.group.exec(batch)
	if o := outcome(batch[0]); o.err != nil || o.inst.Version != insts[0].Version+1 || o.inst.LeaseOwner != "" {
		t.Fatalf("good record: %+v, %v", o.inst, o.err)
	}
	if o := outcome(batch[1]); !errors.Is(o.err, saga.ErrLeaseLost) {
		t.Fatalf("stale record: %v", o.err)
	}
	// A refused state among good ones.
	batch = []*recordItem{req(2, `{"n":1e1000000}`, false), req(3, `{"ok":true}`, false)}
	s.group.exec(batch)
	var refused *saga.RefusedError
	if o := outcome(batch[0]); !errors.As(o.err, &refused) || !refused.Permanent {
		t.Fatalf("refused state: %v", o.err)
	}
	if o := outcome(batch[1]); o.err != nil {
		t.Fatalf("good record beside a refused one: %v", o.err)
	}
	got, err := s.Get(ctx, insts[3].ID)
	if err != nil || got.Step != 1 || got.Version != insts[3].Version+1 {
		t.Fatalf("stored %+v, %v", got, err)
	}
	if got, _ := s.Get(ctx, insts[2].ID); got.Version != insts[2].Version {
		t.Fatalf("the refused record changed its instance: %+v", got)
	}
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM `+s.history).Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d history entries, want 2 (%v)", n, err)
	}
}

// TestGroupCommitSkipsRowsBeingFiled: a batch does not wait for a row that
// a filing holds (AddInbox, uncommitted): the other records of the batch
// are stored at once, and the held one once the filing commits.
func TestGroupCommitSkipsRowsBeingFiled(t *testing.T) {
	s := groupStore(t)
	ctx := pgtest.Context(t, time.Minute)
	insts := claimN(t, s, 2)
	filing, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = filing.Rollback(ctx) }()
	if err := s.AddInbox(ctx, filing, "g", insts[0].CorrelationID, eventlog.Event{ID: uuid.New(), Type: "Paid", Position: eventlog.Position{TxID: 1, Seq: 1}}); err != nil {
		t.Fatal(err)
	}
	batch := make([]*recordItem, len(insts))
	for i := range insts {
		next, h := stepDone(insts[i])
		batch[i] = groupcommit.NewItem[*recordReq, saga.Instance](ctx, &recordReq{claimed: insts[i], next: next, h: h})
	}
	exec, free := make(chan struct{}), make(chan recordOutcome, 1)
	go func() { s.group.exec(batch); close(exec) }()
	go func() { free <- outcome(batch[1]) }()
	select {
	case o := <-free:
		if o.err != nil {
			t.Fatal(o.err)
		}
	case <-exec:
		t.Fatal("the batch ended before handing out the free record's outcome")
	case <-time.After(10 * time.Second):
		t.Fatal("the batch waited for the row being filed")
	}
	if err := filing.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	<-exec
	if o := outcome(batch[0]); o.err != nil || o.inst.Version != insts[0].Version+1 {
		t.Fatalf("the record of the row that was being filed: %+v, %v", o.inst, o.err)
	}
}

// outcome waits for an item's outcome, as the batch code's tests read it.
func outcome(it *recordItem) recordOutcome {
	inst, err := it.Outcome()
	return recordOutcome{inst: inst, err: err}
}
