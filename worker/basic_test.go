package worker_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/eventlog/memory"
	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/worker"
)

func TestNewRejectsBadSubscriptions(t *testing.T) {
	cfg := worker.Config{Log: memory.New(memory.Options{}), Checkpoints: checkpoint.NewMemory()}
	h := func(context.Context, *worker.Delivery) error { return nil }
	typed := func(context.Context, *worker.Delivery, eventlog.Envelope[amount]) error { return nil }
	cases := []worker.Subscription{
		worker.NewSubscription("", worker.OnAny(h)),
		worker.NewSubscription("bad name", worker.OnAny(h)),
		worker.NewSubscription("nohandler"),
		worker.NewSubscription("parts", worker.Partitions(-1), worker.OnAny(h)),
		worker.NewSubscription("mode", worker.Mode(7), worker.OnAny(h)),
		worker.NewSubscription("twice", worker.On(typed), worker.OnType("Amount", typed)),
		worker.NewSubscription("unnamed", worker.On(func(context.Context, *worker.Delivery, eventlog.Envelope[struct{}]) error { return nil })),
		worker.NewSubscription("mismatch", worker.OnType("Other", typed)),
		worker.NewSubscription("anytwice", worker.OnAny(h), worker.OnAny(h)),
	}
	for _, s := range cases {
		if _, err := worker.New(cfg, s); !errors.Is(err, worker.ErrInvalidSubscription) {
			t.Errorf("%q: err = %v", s.Name(), err)
		}
	}
	if err := cases[6].Err(); !errors.Is(err, eventlog.ErrUnnamedType) || !strings.Contains(err.Error(), "struct {}") {
		t.Errorf("unnamed type: %v", err)
	}
	if err := cases[7].Err(); !errors.Is(err, eventlog.ErrTypeMismatch) {
		t.Errorf("OnType naming another type: %v", err)
	}
	if f := worker.NewSubscription("f", worker.On(typed)).Filter(); !reflect.DeepEqual(f, eventlog.Filter{Types: []string{"Amount"}}) {
		t.Errorf("typed handlers only: filter %+v, want their types", f)
	}
	if f := worker.NewSubscription("f", worker.On(typed), worker.OnAny(h)).Filter(); !f.IsZero() {
		t.Errorf("with OnAny: filter %+v, want everything", f)
	}
	if _, err := worker.New(cfg, worker.NewSubscription("a", worker.OnAny(h)), worker.NewSubscription("a", worker.OnAny(h))); err == nil {
		t.Error("duplicate subscription accepted")
	}
	if _, err := worker.New(worker.Config{}, worker.NewSubscription("a", worker.OnAny(h))); err == nil {
		t.Error("missing stores accepted")
	}
}

// TestTransactionalGroupMatchesFold: three members share a subscription;
// the transactional read model equals a sequential fold of the log, and each
// key was handled in order (the handler refuses anything else).
func TestTransactionalGroupMatchesFold(t *testing.T) {
	e := newEnv(t)
	sub := worker.NewSubscription("rm", worker.Filter(eventlog.Filter{Categories: []string{"acct"}}), worker.OnAny(readModelHandler(e.schema)))
	appendEvents(t, e.log, "acct", 40, 1000)
	appendEvents(t, e.log, "noise", 5, 100)
	for i := 0; i < 3; i++ {
		startWorker(t, e.config(fmt.Sprintf("m%d", i)), sub)
	}
	appendErr := make(chan error, 1)
	go func() { appendErr <- appendBatches(pgtest.Context(t, time.Minute), e.log, "acct", 40, 2000, 7) }()
	if err := <-appendErr; err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "3000 events in the read model", func() bool {
		return e.readModelEvents(t) == 3000
	})
	compareModels(t, e.readModel(t), e.fold(t, eventlog.Filter{Categories: []string{"acct"}}))
	if n, _ := e.cps.CountDeadLetters(pgtest.Context(t, time.Minute), "rm"); n != 0 {
		t.Fatalf("%d dead letters", n)
	}
	// The partitions end up spread over the members, ceil(8/3) at most each.
	waitFor(t, 20*time.Second, "partitions spread over 3 members", func() bool {
		parts, _ := e.cps.Partitions(pgtest.Context(t, time.Minute), "rm")
		owners := map[string]int{}
		for _, p := range parts {
			if p.Leased(time.Now()) {
				owners[p.Owner]++
			}
		}
		for _, n := range owners {
			if n > 3 {
				return false
			}
		}
		return len(owners) == 3
	})
}

// TestAtLeastOnceWithMemoryStores: the engine on the memory stores, in
// at-least-once mode: every event handled, in order per key.
func TestAtLeastOnceWithMemoryStores(t *testing.T) {
	log := memory.New(memory.Options{})
	t.Cleanup(log.Close)
	cps := checkpoint.NewMemory()
	var (
		mu   sync.Mutex
		last = map[string]int64{}
		seen = map[string]bool{}
		errs []string
	)
	sub := worker.NewSubscription("alo",
		worker.Partitions(4),
		worker.Mode(worker.AtLeastOnce),
		worker.Flush(10, 0),
		worker.OnAny(func(ctx context.Context, d *worker.Delivery) error {
			mu.Lock()
			defer mu.Unlock()
			if d.Tx != nil {
				errs = append(errs, "at-least-once delivery has a transaction")
			}
			if d.Event.Version <= last[d.Event.StreamID] && !seen[d.IdempotencyKey()] {
				errs = append(errs, fmt.Sprintf("%s v%d after v%d", d.Event.StreamID, d.Event.Version, last[d.Event.StreamID]))
			}
			last[d.Event.StreamID] = max(last[d.Event.StreamID], d.Event.Version)
			seen[d.IdempotencyKey()] = true
			return nil
		}),
	)
	startWorker(t, worker.Config{Log: log, Checkpoints: cps, LeaseTTL: time.Second}, sub)
	appendEvents(t, log, "k", 13, 2000)
	waitFor(t, 30*time.Second, "all handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == 2000
	})
	waitFor(t, 10*time.Second, "checkpoints flushed", func() bool { return caughtUp(t, log, cps, "alo") })
	mu.Lock()
	defer mu.Unlock()
	if len(errs) > 0 {
		t.Fatal(errs[:min(len(errs), 5)])
	}
}

// TestRetriesPermanentAndPanics: a failing event is retried until it
// succeeds; a permanent error and a panic go to the dead letters; the
// process survives and other events flow.
func TestRetriesPermanentAndPanics(t *testing.T) {
	e := newEnv(t)
	var attempts sync.Map // event id → *atomic.Int32
	count := func(d *worker.Delivery) int32 {
		v, _ := attempts.LoadOrStore(d.Event.ID, new(atomic.Int32))
		return v.(*atomic.Int32).Add(1)
	}
	var maxAttempt atomic.Int32
	sub := worker.NewSubscription("retry",
		worker.Partitions(2),
		worker.Retry(worker.RetryPolicy{MaxAttempts: 4, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}),
		worker.On(func(ctx context.Context, d *worker.Delivery, ev eventlog.Envelope[amount]) error {
			a := ev.Data

			n := count(d)
			if int32(d.Attempt) != n {
				return fmt.Errorf("attempt %d reported as %d", n, d.Attempt)
			}
			maxAttempt.Store(max(maxAttempt.Load(), n))
			switch d.Event.StreamID {
			case "flaky-1":
				if n < 3 {
					return errors.New("transient failure")
				}
			case "perm-1":
				return worker.Permanent(errors.New("invalid"))
			case "panic-1":
				panic("handler bug")
			}
			return applyReadModel(ctx, d.Tx, e.schema, d.Event, a)
		}),
	)
	for _, s := range []string{"flaky-1", "perm-1", "panic-1", "ok-1"} {
		ev, _ := eventlog.NewEvent("Amount", amount{N: 1})
		if _, err := e.log.Append(pgtest.Context(t, time.Minute), s, eventlog.Any, ev); err != nil {
			t.Fatal(err)
		}
	}
	startWorker(t, e.config("m"), sub)
	ctx := pgtest.Context(t, time.Minute)
	waitFor(t, 30*time.Second, "two dead letters and two handled", func() bool {
		dls, _ := e.cps.DeadLetters(ctx, checkpoint.DeadLetterQuery{Subscription: "retry"})
		dead := 0
		for _, d := range dls {
			if !d.Retrying() {
				dead++
			}
		}
		return len(dls) == 2 && dead == 2 && len(e.readModel(t)) == 2
	})
	rm := e.readModel(t)
	if rm["flaky-1"].Events != 1 || rm["ok-1"].Events != 1 {
		t.Fatalf("read model %v", rm)
	}
	dls, _ := e.cps.DeadLetters(ctx, checkpoint.DeadLetterQuery{Subscription: "retry"})
	byStream := map[string]checkpoint.DeadLetter{}
	for _, d := range dls {
		byStream[d.StreamID] = d
	}
	if d := byStream["perm-1"]; d.Attempts != 1 || d.Blocked || d.Error != "permanent: invalid" {
		t.Fatalf("permanent dead letter %+v", d)
	}
	if d := byStream["panic-1"]; d.Attempts != 4 || d.Key != "panic-1" {
		t.Fatalf("panic dead letter %+v", d)
	} else if want := "handler panicked: handler bug"; len(d.Error) < len(want) || d.Error[:len(want)] != want {
		t.Fatalf("panic error text %q", d.Error)
	}
}

// TestSequencedDeadLetters: when a key's event is dead-lettered, every later
// event of that key follows it (in order) while other keys flow; retrying
// re-delivers them in order and the key resumes; discarding also unblocks.
func TestSequencedDeadLetters(t *testing.T) {
	e := newEnv(t)
	var broken atomic.Bool
	broken.Store(true)
	sub := worker.NewSubscription("seq",
		worker.Partitions(1),
		worker.Retry(worker.RetryPolicy{MaxAttempts: 2, InitialBackoff: 5 * time.Millisecond}),
		worker.On(func(ctx context.Context, d *worker.Delivery, ev eventlog.Envelope[amount]) error {
			a := ev.Data

			if d.Event.StreamID == "bad-1" && d.Event.Version == 3 && broken.Load() {
				return errors.New("cannot handle v3")
			}
			return applyReadModel(ctx, d.Tx, e.schema, d.Event, a)
		}),
	)
	cfg := e.config("m")
	cfg.RetryPollInterval = 50 * time.Millisecond
	startWorker(t, cfg, sub)
	ctx := pgtest.Context(t, time.Minute)
	for v := 1; v <= 6; v++ {
		for _, s := range []string{"bad-1", "good-1"} {
			ev, _ := eventlog.NewEvent("Amount", amount{N: int64(v)})
			if _, err := e.log.Append(ctx, s, eventlog.Any, ev); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitFor(t, 30*time.Second, "good-1 handled and bad-1 parked behind a dead letter", func() bool {
		dls, _ := e.cps.DeadLetters(ctx, checkpoint.DeadLetterQuery{Subscription: "seq"})
		return e.readModel(t)["good-1"].Events == 6 && len(dls) == 4 && !dls[0].Retrying()
	})
	rm := e.readModel(t)
	if rm["bad-1"].LastVersion != 2 {
		t.Fatalf("bad-1 in read model: %+v (want versions 1-2 only)", rm["bad-1"])
	}
	dls, _ := e.cps.DeadLetters(ctx, checkpoint.DeadLetterQuery{Subscription: "seq"})
	for i, d := range dls {
		if d.Version != int64(3+i) || d.Blocked != (i > 0) || d.Key != "bad-1" {
			t.Fatalf("dead letter %d: %+v", i, d)
		}
	}
	if dls[0].Attempts != 2 || dls[0].Error != "cannot handle v3" {
		t.Fatalf("root dead letter %+v", dls[0])
	}
	st, err := worker.Inspect(ctx, e.log, e.cps, "seq", worker.InspectOptions{})
	if err != nil || st.State != worker.StateDeadLetters || st.DeadLetters != 4 {
		t.Fatalf("inspect: %+v, %v", st, err)
	}

	// A retry while still broken fails again and keeps the order intact.
	admin := worker.DeadLetterAdmin{Store: e.cps}
	if err := admin.Retry(ctx, "seq", dls[2].ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "failed retry recorded", func() bool {
		d, _ := admin.Get(ctx, "seq", dls[0].ID)
		return d.Attempts == 3 && !d.RetryRequested
	})
	if d, _ := admin.Get(ctx, "seq", dls[3].ID); d.RetryRequested {
		t.Fatal("retry request left on a later dead letter after the key failed")
	}
	// Fixed: retrying (any of the key's dead letters) re-delivers all, in order.
	broken.Store(false)
	if err := admin.Retry(ctx, "seq", dls[3].ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "bad-1 retried", func() bool { return e.readModel(t)["bad-1"].Events == 6 })
	if n, _ := e.cps.CountDeadLetters(ctx, "seq"); n != 0 {
		t.Fatalf("%d dead letters after the retry", n)
	}
	// The key flows again.
	ev, _ := eventlog.NewEvent("Amount", amount{N: 7})
	if _, err := e.log.Append(ctx, "bad-1", eventlog.Any, ev); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "bad-1 v7", func() bool { return e.readModel(t)["bad-1"].LastVersion == 7 })
	compareModels(t, e.readModel(t), e.fold(t, eventlog.Filter{}))
}

func TestDiscardUnblocksKey(t *testing.T) {
	e := newEnv(t)
	sub := worker.NewSubscription("disc",
		worker.Partitions(2),
		worker.Retry(worker.RetryPolicy{MaxAttempts: 1}),
		worker.On(func(ctx context.Context, d *worker.Delivery, ev eventlog.Envelope[amount]) error {
			a := ev.Data

			if a.N < 0 {
				return errors.New("negative")
			}
			return nil
		}),
	)
	cfg := e.config("m")
	cfg.RetryPollInterval = 50 * time.Millisecond
	var handled atomic.Int32
	cfg.Hooks.Handled = func(ctx context.Context, d *worker.Delivery, took time.Duration, err error) {
		if err == nil && d.Event.StreamID == "x-1" {
			handled.Add(1)
		}
	}
	startWorker(t, cfg, sub)
	ctx := pgtest.Context(t, time.Minute)
	for _, n := range []int64{-1, 2, 3} {
		ev, _ := eventlog.NewEvent("Amount", amount{N: n})
		if _, err := e.log.Append(ctx, "x-1", eventlog.Any, ev); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 20*time.Second, "3 dead letters", func() bool { n, _ := e.cps.CountDeadLetters(ctx, "disc"); return n == 3 })
	dls, _ := e.cps.DeadLetters(ctx, checkpoint.DeadLetterQuery{Subscription: "disc"})
	// Last first: discarding the key's first dead letter releases the
	// others (re-delivered in order), so discarding it first would race
	// the worker for them.
	for i := len(dls) - 1; i >= 0; i-- {
		if err := (worker.DeadLetterAdmin{Store: e.cps}).Discard(ctx, "disc", dls[i].ID, "test"); err != nil {
			t.Fatal(err)
		}
	}
	ev, _ := eventlog.NewEvent("Amount", amount{N: 4})
	if _, err := e.log.Append(ctx, "x-1", eventlog.Any, ev); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "key resumes after discard", func() bool { return handled.Load() == 1 })
	if n, _ := e.cps.CountDeadLetters(ctx, "disc"); n != 0 {
		t.Fatalf("the new event was dead-lettered too (%d)", n)
	}
}

// TestDeadLetterCapHalts: at the cap the partition stops visibly at the
// failing event; making room resumes it with nothing skipped.
func TestDeadLetterCapHalts(t *testing.T) {
	for _, makeRoom := range []string{"discard", "retry"} {
		t.Run(makeRoom, func(t *testing.T) { testDeadLetterCapHalts(t, makeRoom) })
	}
}

func testDeadLetterCapHalts(t *testing.T, makeRoom string) {
	e := newEnv(t)
	var fail atomic.Bool
	fail.Store(true)
	sub := worker.NewSubscription("cap",
		worker.Partitions(1),
		worker.Retry(worker.RetryPolicy{MaxAttempts: 1}),
		worker.MaxDeadLetters(2),
		worker.On(func(ctx context.Context, d *worker.Delivery, ev eventlog.Envelope[amount]) error {
			a := ev.Data

			if fail.Load() && a.N < 0 {
				return errors.New("negative")
			}
			return applyReadModel(ctx, d.Tx, e.schema, d.Event, a)
		}),
	)
	var halted atomic.Int32
	cfg := e.config("m")
	cfg.Hooks.Halted = func(string, int) { halted.Add(1) }
	r := startWorker(t, cfg, sub)
	ctx := pgtest.Context(t, time.Minute)
	for i, s := range []string{"a-1", "b-1", "c-1", "d-1"} {
		n := int64(-1)
		if i == 3 {
			n = 1
		}
		ev, _ := eventlog.NewEvent("Amount", amount{N: n})
		if _, err := e.log.Append(ctx, s, eventlog.Any, ev); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 20*time.Second, "halt at the cap", func() bool { return halted.Load() > 0 })
	st, err := worker.Inspect(ctx, e.log, e.cps, "cap", worker.InspectOptions{MaxDeadLetters: 2})
	if err != nil || st.State != worker.StateHalted || st.DeadLetters != 2 {
		t.Fatalf("inspect %+v, %v", st, err)
	}
	local := r.w.LocalStatus()
	if len(local) != 1 || len(local[0].Partitions) != 1 || local[0].Partitions[0].State != "halted: dead-letter cap reached" {
		t.Fatalf("local status %+v", local)
	}
	if rm := e.readModel(t); len(rm) != 0 {
		t.Fatalf("events past the halted one were handled: %v", rm)
	}
	// Operators make room — discard one, or fix the handler and retry one
	// (a halted partition still serves retries) — and the halted event gets
	// a new round.
	fail.Store(false)
	dls, _ := e.cps.DeadLetters(ctx, checkpoint.DeadLetterQuery{Subscription: "cap"})
	admin := worker.DeadLetterAdmin{Store: e.cps}
	act := func(ctx context.Context, sub string, id int64) error { return admin.Discard(ctx, sub, id, "test") }
	if makeRoom == "retry" {
		act = admin.Retry
	}
	if err := act(ctx, "cap", dls[0].ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "resume after the cap", func() bool {
		rm := e.readModel(t)
		return rm["c-1"].Events == 1 && rm["d-1"].Events == 1
	})
}

// TestNoTransactionHeldWhileRetrying: during a retry backoff the worker holds
// no open transaction (which would freeze every reader of the log).
func TestNoTransactionHeldWhileRetrying(t *testing.T) {
	e := newEnv(t)
	var failures atomic.Int32
	waiting := make(chan struct{}, 1)
	sub := worker.NewSubscription("hold",
		worker.Partitions(1),
		worker.Retry(worker.RetryPolicy{MaxAttempts: 3, InitialBackoff: 1500 * time.Millisecond, MaxBackoff: 1500 * time.Millisecond}),
		worker.OnAny(func(ctx context.Context, d *worker.Delivery) error {
			if _, err := d.Tx.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil { // hold an xid like a write would
				return err
			}
			if failures.Add(1) == 1 {
				select {
				case waiting <- struct{}{}:
				default:
				}
				return errors.New("fail once")
			}
			return nil
		}),
	)
	startWorker(t, e.config("m"), sub)
	ctx := pgtest.Context(t, time.Minute)
	ev, _ := eventlog.NewEvent("Amount", amount{N: 1})
	if _, err := e.log.Append(ctx, "h-1", eventlog.Any, ev); err != nil {
		t.Fatal(err)
	}
	<-waiting
	time.Sleep(300 * time.Millisecond) // well inside the 1.5 s backoff
	var open int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()
		  AND query LIKE '%pg_current_xact_id()%'`).Scan(&open); err != nil {
		t.Fatal(err)
	}
	if open != 0 {
		t.Fatalf("%d transactions with an id open during the retry backoff", open)
	}
	waitFor(t, 10*time.Second, "retry succeeded", func() bool { return failures.Load() == 2 })
}

// TestGracefulShutdown: cancelling finishes the in-flight batch, commits,
// releases leases and leaves the group within the deadline.
func TestGracefulShutdown(t *testing.T) {
	e := newEnv(t)
	inHandler := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	sub := worker.NewSubscription("shut",
		worker.Partitions(4),
		worker.BatchSize(50),
		worker.On(func(ctx context.Context, d *worker.Delivery, ev eventlog.Envelope[amount]) error {
			a := ev.Data

			if d.Event.StreamID == "slow-1" {
				once.Do(func() { close(inHandler) })
				<-release
			}
			return applyReadModel(ctx, d.Tx, e.schema, d.Event, a)
		}),
	)
	cfg := e.config("m")
	cfg.ShutdownTimeout = 5 * time.Second
	r := startWorker(t, cfg, sub)
	appendEvents(t, e.log, "fast", 10, 200)
	ev, _ := eventlog.NewEvent("Amount", amount{N: 5})
	if _, err := e.log.Append(pgtest.Context(t, time.Minute), "slow-1", eventlog.Any, ev); err != nil {
		t.Fatal(err)
	}
	<-inHandler
	start := time.Now()
	go func() { time.Sleep(200 * time.Millisecond); close(release) }()
	r.stop(t)
	if took := time.Since(start); took > cfg.ShutdownTimeout {
		t.Fatalf("shutdown took %v", took)
	}
	ctx := pgtest.Context(t, time.Minute)
	// The in-flight event was finished and committed, not abandoned.
	if rm := e.readModel(t); rm["slow-1"].Events != 1 {
		t.Fatalf("in-flight event not committed: %+v", rm["slow-1"])
	}
	parts, _ := e.cps.Partitions(ctx, "shut")
	for _, p := range parts {
		if p.Owner != "" {
			t.Fatalf("partition %d still owned by %q after shutdown", p.Partition, p.Owner)
		}
	}
	if ms, _ := e.cps.Members(ctx, "shut"); len(ms) != 0 {
		t.Fatalf("members after shutdown: %v", ms)
	}
	// Nothing handled twice when another member picks up from the checkpoints.
	startWorker(t, e.config("m2"), sub)
	waitFor(t, 30*time.Second, "all handled", func() bool {
		return e.readModelEvents(t) == 201
	})
	compareModels(t, e.readModel(t), e.fold(t, eventlog.Filter{}))
}

// TestRebalance: a joining member gets its fair share; a leaving one's
// partitions are taken over.
func TestRebalance(t *testing.T) {
	e := newEnv(t)
	sub := worker.NewSubscription("bal", worker.OnAny(func(context.Context, *worker.Delivery) error { return nil }))
	ctx := pgtest.Context(t, time.Minute)
	owners := func() map[string]int {
		parts, _ := e.cps.Partitions(ctx, "bal")
		m := map[string]int{}
		for _, p := range parts {
			if p.Leased(time.Now()) {
				m[p.Owner]++
			}
		}
		return m
	}
	cfg := func(m string) worker.Config { c := e.config(m); c.LeaseTTL = 900 * time.Millisecond; return c }
	a := startWorker(t, cfg("a"), sub)
	waitFor(t, 10*time.Second, "a owns all 8", func() bool { return owners()["a"] == 8 })
	startWorker(t, cfg("b"), sub)
	waitFor(t, 10*time.Second, "4 and 4", func() bool { o := owners(); return o["a"] == 4 && o["b"] == 4 })
	a.stop(t)
	waitFor(t, 10*time.Second, "b owns all 8", func() bool { return owners()["b"] == 8 })
}

// TestInspectLag: lag in events and seconds, and state, before and after.
func TestInspectLag(t *testing.T) {
	e := newEnv(t)
	ctx := pgtest.Context(t, time.Minute)
	sub := worker.NewSubscription("lag", worker.Partitions(2), worker.OnAny(readModelHandler(e.schema)))
	if _, err := e.cps.Register(ctx, checkpoint.Subscription{Name: "lag", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, e.log, "l", 3, 30)
	time.Sleep(1100 * time.Millisecond) // so the oldest pending event is over a second old
	st, err := worker.Inspect(ctx, e.log, e.cps, "lag", worker.InspectOptions{CatchingUpEvents: 10})
	if err != nil {
		t.Fatal(err)
	}
	if st.State != worker.StateStopped || st.LagEvents != 30 || st.LagSeconds < 1 || len(st.Partitions) != 2 {
		t.Fatalf("before: %+v", st)
	}
	startWorker(t, e.config("m"), sub)
	waitFor(t, 20*time.Second, "lag 0", func() bool {
		st, err = worker.Inspect(ctx, e.log, e.cps, "lag", worker.InspectOptions{})
		return err == nil && st.LagEvents == 0 && st.State == worker.StateRunning
	})
	if st.LagSeconds != 0 || len(st.Members) != 1 || st.Partitions[0].Owner != "m" {
		t.Fatalf("after: %+v", st)
	}
	if _, err := worker.Inspect(ctx, e.log, e.cps, "nope", worker.InspectOptions{}); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Fatalf("unknown subscription: %v", err)
	}
}

// TestNothingRunsAfterRunReturns: when Run returns, every partition has
// finished — including its last log record and the hooks that report its
// lease given up. A slow LeaseChanged hook must delay Run's return, not
// run after it (metrics and tests read state once Run returned).
func TestNothingRunsAfterRunReturns(t *testing.T) {
	e := newEnv(t)
	var returned, late atomic.Bool
	var released atomic.Int32
	cfg := e.config("m")
	cfg.Hooks.LeaseChanged = func(sub string, part int, claimed bool, reason string) {
		if claimed {
			return
		}
		time.Sleep(50 * time.Millisecond)
		released.Add(1)
		if returned.Load() {
			late.Store(true)
		}
	}
	sub := worker.NewSubscription("afterrun", worker.Partitions(4),
		worker.OnAny(func(ctx context.Context, d *worker.Delivery) error { return nil }))
	r := startWorker(t, cfg, sub)
	appendAmount(t, e.log, "a-1", 1)
	waitFor(t, 20*time.Second, "the partitions claimed", func() bool {
		parts, _ := e.cps.Partitions(pgtest.Context(t, time.Minute), "afterrun")
		owned := 0
		for _, p := range parts {
			if p.Owner == "m" {
				owned++
			}
		}
		return owned == 4
	})
	r.stop(t)
	returned.Store(true)
	if n := released.Load(); n != 4 || late.Load() {
		t.Fatalf("when Run returned, %d of 4 release hooks had finished (one ran after Run returned: %v)", n, late.Load())
	}
}
