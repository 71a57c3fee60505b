package worker_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/worker"
)

// deliveries records what a handler was given.
type deliveries struct {
	mu    sync.Mutex
	calls map[uuid.UUID]int
	ok    []string // "stream/version" of successful deliveries, in order
}

func newDeliveries() *deliveries { return &deliveries{calls: map[uuid.UUID]int{}} }

func (r *deliveries) add(e eventlog.Event, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[e.ID]++
	if err == nil {
		r.ok = append(r.ok, fmt.Sprintf("%s/%d", e.StreamID, e.Version))
	}
}

func (r *deliveries) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.calls)
	r.ok = nil
}

func (r *deliveries) count(id uuid.UUID) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[id]
}

// handled returns the successful deliveries of stream, in order, each
// once in a row (a transactional batch that rolls back at a failure runs
// the events before it again).
func (r *deliveries) handled(stream string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range r.ok {
		if len(s) > len(stream) && s[:len(stream)+1] == stream+"/" {
			out = append(out, s)
		}
	}
	return slices.Compact(out)
}

func appendAmounts(t *testing.T, log eventlog.Store, stream string, ns ...int64) {
	t.Helper()
	ctx := pgtest.Context(t, time.Minute)
	for _, n := range ns {
		ev, err := eventlog.NewEvent("Amount", amount{N: n})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := log.Append(ctx, stream, eventlog.Any, ev); err != nil {
			t.Fatal(err)
		}
	}
}

func countDL(cps checkpoint.Store, sub string) int {
	n, err := cps.CountDeadLetters(context.Background(), sub)
	if err != nil {
		return -1
	}
	return n
}

// TestDiscardedStaysDiscardedAcrossReplay (issue 13, point 6): an event an
// operator discarded is never handled again after a replay, is not
// dead-lettered again and does not park its key; discarding a key's first
// dead letter releases the ones parked behind it, in order.
func TestDiscardedStaysDiscardedAcrossReplay(t *testing.T) {
	for _, mode := range []worker.CommitMode{worker.Transactional, worker.AtLeastOnce} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) { testDiscardedAcrossReplay(t, mode) })
	}
}

func testDiscardedAcrossReplay(t *testing.T, mode worker.CommitMode) {
	e := newEnv(t)
	rec := newDeliveries()
	const name = "disc-replay"
	sub := worker.NewSubscription(name,
		worker.Partitions(2),
		worker.Mode(mode),
		worker.Retry(worker.RetryPolicy{MaxAttempts: 1}),
		worker.On(func(ctx context.Context, d *worker.Delivery, ev eventlog.Envelope[amount]) error {
			var err error
			if ev.Data.N < 0 {
				err = errors.New("negative")
			}
			rec.add(d.Event, err)
			return err
		}),
	)
	cfg := e.config("m")
	cfg.RetryPollInterval = 50 * time.Millisecond
	startWorker(t, cfg, sub)
	ctx := pgtest.Context(t, time.Minute)
	appendAmounts(t, e.log, "x-1", 1, -1, 2, 3)
	appendAmounts(t, e.log, "y-1", 5)
	waitFor(t, 20*time.Second, "the poison event and the two parked behind it", func() bool { return countDL(e.cps, name) == 3 })
	dls, err := e.cps.KeyDeadLetters(ctx, name, worker.PartitionOf("x-1", 2), "x-1")
	if err != nil || len(dls) != 3 || dls[0].Blocked || !dls[1].Blocked {
		t.Fatalf("dead letters %+v, %v", dls, err)
	}
	poison := dls[0].EventID
	if got := rec.handled("x-1"); !slices.Equal(got, []string{"x-1/1"}) {
		t.Fatalf("before the discard x-1 handled %v", got)
	}

	if err := (worker.DeadLetterAdmin{Store: e.cps}).Discard(ctx, name, dls[0].ID, "tester"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the parked events released", func() bool {
		return len(rec.handled("x-1")) == 3 && countDL(e.cps, name) == 0
	})
	if got := rec.handled("x-1"); !slices.Equal(got, []string{"x-1/1", "x-1/3", "x-1/4"}) {
		t.Fatalf("released out of order: %v", got)
	}

	// Replay: everything again from the start, but the discarded event.
	rec.reset()
	if err := e.cps.Reset(ctx, name); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the replay", func() bool {
		return len(rec.handled("x-1")) >= 3 && len(rec.handled("y-1")) >= 1 && caughtUp(t, e.log, e.cps, name)
	})
	appendAmounts(t, e.log, "x-1", 7) // the key must not be parked
	waitFor(t, 20*time.Second, "a new event of the key", func() bool { return slices.Contains(rec.handled("x-1"), "x-1/5") })
	if n := rec.count(poison); n != 0 {
		t.Fatalf("the discarded event was delivered %d times after the replay", n)
	}
	if n := countDL(e.cps, name); n != 0 {
		dls, _ := e.cps.DeadLetters(ctx, checkpoint.DeadLetterQuery{Subscription: name})
		t.Fatalf("%d dead letters after the replay: %+v", n, dls)
	}
	got := rec.handled("x-1") // at-least-once may deliver twice around the reset
	if mode == worker.Transactional && !slices.Equal(got, []string{"x-1/1", "x-1/3", "x-1/4", "x-1/5"}) {
		t.Fatalf("after the replay x-1 handled %v", got)
	}
	for _, want := range []string{"x-1/1", "x-1/3", "x-1/4", "x-1/5"} {
		if !slices.Contains(got, want) {
			t.Fatalf("after the replay x-1 handled %v, without %s", got, want)
		}
	}
}

// TestDiscardSeenByRunningBuild: a build of the same lineage that claimed
// its partition before the discard (its set is older) meets the discarded
// event and fails on it: it is passed over, not dead-lettered, and the key
// flows on; a build started afterwards never delivers it.
func TestDiscardSeenByRunningBuild(t *testing.T) {
	e := newEnv(t)
	ctx := pgtest.Context(t, time.Minute)
	entered, release := make(chan struct{}, 1), make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	recs := map[string]*deliveries{"lin#1": newDeliveries(), "lin#2": newDeliveries(), "lin#3": newDeliveries()}
	build := func(name string, block bool) worker.Subscription {
		return worker.NewSubscription(name,
			worker.Partitions(1),
			worker.Retry(worker.RetryPolicy{MaxAttempts: 1}),
			worker.On(func(ctx context.Context, d *worker.Delivery, ev eventlog.Envelope[amount]) error {
				var err error
				if ev.Data.N < 0 {
					if block {
						select {
						case entered <- struct{}{}:
						default:
						}
						<-release
					}
					err = errors.New("negative")
				}
				recs[name].add(d.Event, err)
				return err
			}),
		)
	}
	cfg := e.config("m")
	cfg.RetryPollInterval = 50 * time.Millisecond
	startWorker(t, cfg, build("lin#1", false), build("lin#2", true))
	appendAmounts(t, e.log, "x-1", -1, 2)
	waitFor(t, 20*time.Second, "lin#1's dead letters", func() bool { return countDL(e.cps, "lin#1") == 2 })
	select {
	case <-entered:
	case <-time.After(20 * time.Second):
		t.Fatal("lin#2 never reached the poison event")
	}
	dls, _ := e.cps.KeyDeadLetters(ctx, "lin#1", 0, "x-1")
	if err := e.cps.Discard(ctx, "lin#1", dls[0].ID, "tester"); err != nil {
		t.Fatal(err)
	}
	unblock()
	waitFor(t, 20*time.Second, "both builds past the key", func() bool {
		return len(recs["lin#1"].handled("x-1")) == 1 && len(recs["lin#2"].handled("x-1")) == 1
	})
	waitFor(t, 20*time.Second, "lin#2 caught up", func() bool { return caughtUp(t, e.log, e.cps, "lin#2") })
	if n := countDL(e.cps, "lin#2"); n != 0 {
		t.Fatalf("the running build dead-lettered the discarded event: %d dead letters", n)
	}

	// A later build never delivers it.
	startWorker(t, e.config("m3"), build("lin#3", false))
	waitFor(t, 20*time.Second, "lin#3 caught up", func() bool {
		return len(recs["lin#3"].handled("x-1")) == 1 && caughtUp(t, e.log, e.cps, "lin#3")
	})
	if n := recs["lin#3"].count(dls[0].EventID); n != 0 || countDL(e.cps, "lin#3") != 0 {
		t.Fatalf("a later build delivered the discarded event %d times (%d dead letters)", n, countDL(e.cps, "lin#3"))
	}
}
