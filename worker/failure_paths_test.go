package worker_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/worker"
)

func appendAmount(t testing.TB, s eventlog.Store, stream string, n int64) {
	t.Helper()
	ev, _ := eventlog.NewEvent("Amount", amount{N: n})
	if _, err := s.Append(pgtest.Context(t, time.Minute), stream, eventlog.Any, ev); err != nil {
		t.Fatal(err)
	}
}

// TestRetryRequestCoversEventsParkedAfterIt: v2 is dead-lettered; an
// operator asks for a retry; v3 arrives before the owner acts on the request
// and is parked behind v2. The retry must re-deliver v2 and then v3, in
// order, before the key flows again: v4 may never be applied while v3 is
// still dead-lettered (the read-model handler dead-letters any version that
// is not the next one, so that would show).
func TestRetryRequestCoversEventsParkedAfterIt(t *testing.T) {
	e := newEnv(t)
	var broken atomic.Bool
	broken.Store(true)
	sub := worker.NewSubscription("opretry",
		worker.Partitions(1),
		worker.Retry(worker.RetryPolicy{MaxAttempts: 1}),
		worker.On(func(ctx context.Context, d *worker.Delivery, ev eventlog.Envelope[amount]) error {
			a := ev.Data

			if d.Event.Version == 2 && broken.Load() {
				return errors.New("cannot handle v2 yet")
			}
			return applyReadModel(ctx, d.Tx, e.schema, d.Event, a)
		}),
	)
	cfg := e.config("m")
	cfg.RetryPollInterval = 300 * time.Millisecond
	startWorker(t, cfg, sub)
	ctx := pgtest.Context(t, time.Minute)
	appendAmount(t, e.log, "k-1", 1)
	appendAmount(t, e.log, "k-1", 2)
	waitFor(t, 20*time.Second, "v2 dead-lettered", func() bool { n, _ := e.cps.CountDeadLetters(ctx, "opretry"); return n == 1 })
	dls, _ := e.cps.DeadLetters(ctx, dlQuery("opretry"))
	broken.Store(false)
	admin := worker.DeadLetterAdmin{Store: e.cps}
	if err := admin.Retry(ctx, "opretry", dls[0].ID); err != nil {
		t.Fatal(err)
	}
	appendAmount(t, e.log, "k-1", 3) // parked behind v2, after the request
	waitFor(t, 20*time.Second, "v2 retried", func() bool { return e.readModel(t)["k-1"].LastVersion >= 2 })
	appendAmount(t, e.log, "k-1", 4)
	waitFor(t, 20*time.Second, "the key to drain", func() bool {
		n, _ := e.cps.CountDeadLetters(ctx, "opretry")
		return n == 0 && e.readModel(t)["k-1"].LastVersion == 4 || n > 0 && e.readModel(t)["k-1"].LastVersion == 2 && func() bool {
			// v4 was applied or dead-lettered while v3 waits: stop waiting.
			all, _ := e.cps.DeadLetters(ctx, dlQuery("opretry"))
			for _, d := range all {
				if d.Version == 4 && !d.Blocked {
					return true
				}
			}
			return false
		}()
	})
	if n, _ := e.cps.CountDeadLetters(ctx, "opretry"); n != 0 {
		all, _ := e.cps.DeadLetters(ctx, dlQuery("opretry"))
		t.Fatalf("%d dead letters left after the retry: %+v", n, all)
	}
	compareModels(t, e.readModel(t), e.fold(t, eventlog.Filter{}))
}

// TestGracefulStopWhileRetryingFlushes: an at-least-once partition handles
// 29 events, then the 30th fails and waits to be retried. A graceful stop
// must commit what was handled: a new worker gets none of the 29 again.
func TestGracefulStopWhileRetryingFlushes(t *testing.T) {
	e := newEnv(t)
	for i := 1; i <= 30; i++ {
		appendAmount(t, e.log, "flush-1", int64(i))
	}
	var firstRun sync.Map // event id → handled by the first worker
	var failing atomic.Bool
	sub := func(h worker.Handler) worker.Subscription {
		return worker.NewSubscription("stopretry",
			worker.Partitions(1),
			worker.Retry(worker.RetryPolicy{MaxAttempts: 10, InitialBackoff: 2 * time.Second}),
			worker.Mode(worker.AtLeastOnce),
			worker.Flush(1000, time.Hour),
			worker.OnAny(h),
		)
	}
	first := startWorker(t, e.config("first"), sub(func(ctx context.Context, d *worker.Delivery) error {
		if d.Event.Version == 30 {
			failing.Store(true)
			return errors.New("not now")
		}
		firstRun.Store(d.Event.ID, true)
		return nil
	}))
	waitFor(t, 20*time.Second, "the 30th event to fail", failing.Load)
	first.stop(t)

	var again atomic.Int32
	var handled30 atomic.Bool
	startWorker(t, e.config("second"), sub(func(ctx context.Context, d *worker.Delivery) error {
		if _, ok := firstRun.Load(d.Event.ID); ok {
			again.Add(1)
		}
		if d.Event.Version == 30 {
			handled30.Store(true)
		}
		return nil
	}))
	waitFor(t, 20*time.Second, "the 30th event handled by the second worker", handled30.Load)
	if n := again.Load(); n != 0 {
		t.Fatalf("%d events handled before the graceful stop were delivered again", n)
	}
}

// TestFailingKeyDoesNotHoldItsPartition: one key's event fails and backs off
// (1 s, then 2 s); the other keys of its partition must keep flowing
// meanwhile, and the failing key's later events must wait, in order.
func TestFailingKeyDoesNotHoldItsPartition(t *testing.T) {
	for _, mode := range []worker.CommitMode{worker.Transactional, worker.AtLeastOnce} {
		t.Run(mode.String(), func(t *testing.T) {
			e := newEnv(t)
			var failures atomic.Int32
			var mu sync.Mutex
			handledAt := map[string]time.Time{}
			var order []int64 // versions of bad-1, in handling order
			sub := worker.NewSubscription("holb",
				worker.Partitions(1),
				worker.Retry(worker.RetryPolicy{MaxAttempts: 4, InitialBackoff: time.Second, MaxBackoff: 2 * time.Second}),
				worker.Mode(mode),
				worker.OnAny(func(ctx context.Context, d *worker.Delivery) error {
					if d.Event.StreamID == "bad-1" && d.Event.Version == 1 && failures.Add(1) <= 2 {
						return errors.New("flaky")
					}
					mu.Lock()
					defer mu.Unlock()
					handledAt[d.Event.StreamID+"/"+string(rune('0'+d.Event.Version))] = time.Now()
					if d.Event.StreamID == "bad-1" {
						order = append(order, d.Event.Version)
					}
					return nil
				}),
			)
			startWorker(t, e.config("m"), sub)
			appendAmount(t, e.log, "bad-1", 1)
			waitFor(t, 10*time.Second, "the first failure", func() bool { return failures.Load() >= 1 })
			start := time.Now()
			appendAmount(t, e.log, "bad-1", 2)
			for _, s := range []string{"good-1", "good-2", "good-3"} {
				appendAmount(t, e.log, s, 1)
			}
			waitFor(t, 20*time.Second, "every event handled", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(handledAt) == 5
			})
			mu.Lock()
			for _, k := range []string{"good-1/1", "good-2/1", "good-3/1"} {
				if took := handledAt[k].Sub(start); took > 700*time.Millisecond {
					t.Errorf("%s waited %v behind another key's retry backoff", k, took)
				}
			}
			if len(order) != 2 || order[0] != 1 || order[1] != 2 {
				t.Errorf("bad-1 handled in order %v, want [1 2]", order)
			}
			mu.Unlock()
			// The dead letter goes once its retry has succeeded.
			waitFor(t, 10*time.Second, "no dead letters left", func() bool {
				n, _ := e.cps.CountDeadLetters(pgtest.Context(t, time.Minute), "holb")
				return n == 0
			})
		})
	}
}

// TestUnstorableErrorTextIsDeadLettered: handler errors and panic values
// whose text PostgreSQL cannot store (NUL bytes, invalid UTF-8) must still
// be dead-lettered, and the partition must go on with other keys.
func TestUnstorableErrorTextIsDeadLettered(t *testing.T) {
	e := newEnv(t)
	var good atomic.Int32
	sub := worker.NewSubscription("badtext",
		worker.Partitions(1),
		worker.Retry(worker.RetryPolicy{MaxAttempts: 1}),
		worker.OnAny(func(ctx context.Context, d *worker.Delivery) error {
			switch d.Event.StreamID {
			case "nul-1":
				return errors.New("bad\x00text")
			case "utf-1":
				return errors.New("bad \xff\xfe bytes")
			case "panic-1":
				panic("boom\x00\xc3")
			}
			good.Add(1)
			return nil
		}),
	)
	startWorker(t, e.config("m"), sub)
	for _, s := range []string{"nul-1", "utf-1", "panic-1", "ok-1"} {
		appendAmount(t, e.log, s, 1)
	}
	ctx := pgtest.Context(t, time.Minute)
	waitFor(t, 20*time.Second, "three dead letters and the good event", func() bool {
		n, _ := e.cps.CountDeadLetters(ctx, "badtext")
		return n == 3 && good.Load() == 1
	})
	dls, _ := e.cps.DeadLetters(ctx, dlQuery("badtext"))
	for _, d := range dls {
		if !utf8.ValidString(d.Error) || strings.IndexByte(d.Error, 0) >= 0 || !strings.Contains(d.Error, "b") {
			t.Errorf("dead letter %s error %q", d.StreamID, d.Error)
		}
	}
}

// TestAtLeastOnceLongBatchesLoseNothing: at-least-once batches that run past
// BatchMaxDuration go back to the partition's loop and carry on with the
// rest; with reads bigger than BatchSize some of the rest is already carried
// over. Every event must still be delivered, in order.
func TestAtLeastOnceLongBatchesLoseNothing(t *testing.T) {
	e := newEnv(t)
	const total = 400
	if err := appendBatches(pgtest.Context(t, time.Minute), e.log, "long", 1, total, 50); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var versions []int64
	sub := worker.NewSubscription("longbatch",
		worker.Partitions(1),
		worker.Mode(worker.AtLeastOnce),
		worker.BatchSize(20),
		worker.BatchMaxDuration(10*time.Millisecond),
		worker.OnAny(func(ctx context.Context, d *worker.Delivery) error {
			time.Sleep(time.Millisecond)
			mu.Lock()
			defer mu.Unlock()
			versions = append(versions, d.Event.Version)
			return nil
		}),
	)
	startWorker(t, e.config("m"), sub)
	waitFor(t, 30*time.Second, "the subscription to catch up", func() bool { return caughtUp(t, e.log, e.cps, "longbatch") })
	mu.Lock()
	defer mu.Unlock()
	for i, v := range versions {
		if v != int64(i+1) {
			t.Fatalf("delivery %d was version %d (%d deliveries of %d events)", i, v, len(versions), total)
		}
	}
	if len(versions) != total {
		t.Fatalf("%d deliveries of %d events", len(versions), total)
	}
}

// TestAtLeastOnceOutageIsNotAnAttempt: an at-least-once handler whose own
// database writes fail because PostgreSQL is away (a connection error) is
// not failing: those failures are not counted, and the event is retried
// past MaxAttempts until it passes, never dead-lettered for an outage.
func TestAtLeastOnceOutageIsNotAnAttempt(t *testing.T) {
	e := newEnv(t)
	var calls atomic.Int32
	var dead atomic.Int32
	sub := worker.NewSubscription("outage",
		worker.Partitions(1),
		worker.Retry(worker.RetryPolicy{MaxAttempts: 2, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}),
		worker.Mode(worker.AtLeastOnce),
		worker.OnAny(func(ctx context.Context, d *worker.Delivery) error {
			if calls.Add(1) <= 5 {
				return fmt.Errorf("record delivery: %w", &pgconn.PgError{Severity: "FATAL", Code: "57P01",
					Message: "terminating connection due to administrator command"})
			}
			return nil
		}),
	)
	cfg := e.config("m")
	cfg.Hooks.DeadLettered = func(string, int, *eventlog.Event, bool, error) { dead.Add(1) }
	startWorker(t, cfg, sub)
	appendAmount(t, e.log, "out-1", 1)
	waitFor(t, 20*time.Second, "the event handled after the outage", func() bool { return calls.Load() == 6 })
	waitFor(t, 10*time.Second, "no dead letters left", func() bool {
		n, _ := e.cps.CountDeadLetters(pgtest.Context(t, time.Minute), "outage")
		return n == 0
	})
	if n := dead.Load(); n != 0 {
		t.Fatalf("an outage dead-lettered %d events", n)
	}
}

// TestOperatorRetryDuringOutageStaysRetryable: an operator retries a dead
// letter while the database is away (the handler's own writes fail with
// 57P01). The outage is not the handler's failure: the letter must not go
// back to dead with the outage as its error; it is tried again until the
// handler gets through, and then it is gone.
func TestOperatorRetryDuringOutageStaysRetryable(t *testing.T) {
	for _, mode := range []worker.CommitMode{worker.AtLeastOnce, worker.Transactional} {
		t.Run(mode.String(), func(t *testing.T) {
			e := newEnv(t)
			var phase atomic.Int32 // 0: bug, 1: outage, 2: fixed
			var outageCalls atomic.Int32
			name := "opoutage_" + strings.ToLower(mode.String())
			sub := worker.NewSubscription(name,
				worker.Partitions(1), worker.Mode(mode),
				worker.Retry(worker.RetryPolicy{MaxAttempts: 1, InitialBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}),
				worker.On(func(ctx context.Context, d *worker.Delivery, ev eventlog.Envelope[amount]) error {
					switch phase.Load() {
					case 0:
						return errors.New("a bug")
					case 1:
						if outageCalls.Add(1) == 3 {
							phase.Store(2)
						}
						return fmt.Errorf("record: %w", &pgconn.PgError{Severity: "FATAL", Code: "57P01",
							Message: "terminating connection due to unexpected postmaster exit"})
					}
					return nil
				}),
			)
			cfg := e.config("m")
			cfg.RetryPollInterval = 100 * time.Millisecond
			startWorker(t, cfg, sub)
			ctx := pgtest.Context(t, time.Minute)
			appendAmount(t, e.log, "o-1", 1)
			waitFor(t, 20*time.Second, "the event dead", func() bool {
				dls, _ := e.cps.DeadLetters(ctx, dlQuery(name))
				return len(dls) == 1 && !dls[0].Retrying()
			})
			dls, _ := e.cps.DeadLetters(ctx, dlQuery(name))
			phase.Store(1)
			if err := (worker.DeadLetterAdmin{Store: e.cps}).Retry(ctx, name, dls[0].ID); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(20 * time.Second)
			for {
				dls, _ := e.cps.DeadLetters(ctx, dlQuery(name))
				if len(dls) == 0 {
					break
				}
				if d := dls[0]; !d.Retrying() && !d.RetryRequested && strings.Contains(d.Error, "57P01") {
					t.Fatalf("the operator's retry hit an outage and the letter is dead again with it: %+v", d)
				}
				if time.Now().After(deadline) {
					t.Fatalf("dead letter still there after the outage: %+v (handler saw the outage %d times)", dls, outageCalls.Load())
				}
				time.Sleep(20 * time.Millisecond)
			}
			if outageCalls.Load() < 3 {
				t.Fatalf("the outage was seen %d times; want 3", outageCalls.Load())
			}
		})
	}
}
