package worker_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/worker"
)

// TestChurnDuringCatchUpLosesNothing: members join and leave (gracefully)
// five times while a transactional projection catches up with a 10,000-event
// backlog. Every hand-over must give back exactly what was handled: the read
// model ends equal to a fold of the log, with no dead letters (the handler
// dead-letters any event that is not the next version of its stream, so a
// skipped event shows up as one).
func TestChurnDuringCatchUpLosesNothing(t *testing.T) {
	e := newEnv(t)
	ctx := pgtest.Context(t, 3*time.Minute)
	if err := appendBatches(ctx, e.log, "acct", 200, 10_000, 10); err != nil {
		t.Fatal(err)
	}
	slow := readModelHandler(e.schema)
	handler := func(ctx context.Context, d *worker.Delivery) error {
		time.Sleep(50 * time.Microsecond) // long enough for the cycles to overlap catch-up
		return slow(ctx, d)
	}
	sub := worker.NewSubscription("churn", worker.BatchSize(100), worker.OnAny(handler))
	cfg := func(m string) worker.Config {
		c := e.config(m)
		c.LeaseTTL = 2 * time.Second
		return c
	}
	base := startWorker(t, cfg("base"), sub)
	// More events arrive while members come and go.
	appendDone := make(chan error, 1)
	go func() { appendDone <- appendBatches(ctx, e.log, "late", 50, 2_000, 3) }()
	for i := 0; i < 5; i++ {
		joiner := startWorker(t, cfg(fmt.Sprintf("joiner-%d", i)), sub)
		// Let the joiner claim its share and start on it, then leave.
		waitFor(t, 20*time.Second, "the joiner to own partitions", func() bool {
			for _, s := range joiner.w.LocalStatus() {
				for _, p := range s.Partitions {
					if p.State == "running" {
						return true
					}
				}
			}
			return false
		})
		time.Sleep(time.Duration(50+100*i) * time.Millisecond)
		joiner.stop(t)
	}
	if err := <-appendDone; err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Minute, "catch-up", func() bool { return caughtUp(t, e.log, e.cps, "churn") })
	base.stop(t)
	if n, _ := e.cps.CountDeadLetters(ctx, "churn"); n != 0 {
		dls, _ := e.cps.DeadLetters(ctx, dlQuery("churn"))
		t.Errorf("%d dead letters; first: %+v", n, dls[0])
	}
	compareModels(t, e.readModel(t), e.fold(t, eventlog.Filter{}))
}

// deliveryCounter counts handler calls per event across members, rolled-back
// transactional attempts included.
type deliveryCounter struct {
	mu    sync.Mutex
	calls map[uuid.UUID]int
}

func (c *deliveryCounter) add(id uuid.UUID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls = map[uuid.UUID]int{}
	}
	c.calls[id]++
}

func (c *deliveryCounter) stats() (distinct, repeats int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.calls {
		distinct++
		repeats += n - 1
	}
	return distinct, repeats
}

// TestRebalanceWithSlowHandlersRedeliversNothing: a second member joins
// while the first works through batches of slow handlers (5 ms per event,
// 500-event batches). The hand-over between two live members must neither
// fence anyone (the first member keeps renewing its leases while released
// partitions finish) nor deliver any event twice, in either commit mode.
func TestRebalanceWithSlowHandlersRedeliversNothing(t *testing.T) {
	for _, mode := range []worker.CommitMode{worker.Transactional, worker.AtLeastOnce} {
		t.Run(mode.String(), func(t *testing.T) {
			e := newEnv(t)
			ctx := pgtest.Context(t, 3*time.Minute)
			const total = 3000
			if err := appendBatches(ctx, e.log, "acct", 64, total, 10); err != nil {
				t.Fatal(err)
			}
			var counter deliveryCounter
			handler := func(ctx context.Context, d *worker.Delivery) error {
				counter.add(d.Event.ID)
				time.Sleep(5 * time.Millisecond)
				return nil
			}
			var lost atomic.Int64
			cfg := func(m string) worker.Config {
				c := e.config(m)
				c.LeaseTTL = 1500 * time.Millisecond
				c.Hooks.LeaseChanged = func(sub string, partition int, owned bool, reason string) {
					if !owned && (reason == "lease lost" || reason == "fenced") {
						lost.Add(1)
					}
				}
				return c
			}
			sub := worker.NewSubscription("slow", worker.Mode(mode), worker.OnAny(handler))
			startWorker(t, cfg("first"), sub)
			waitFor(t, 20*time.Second, "the first member to start handling", func() bool {
				d, _ := counter.stats()
				return d > 50
			})
			startWorker(t, cfg("second"), sub)
			waitFor(t, 2*time.Minute, "every event handled", func() bool {
				d, _ := counter.stats()
				return d == total && caughtUp(t, e.log, e.cps, "slow")
			})
			if _, repeats := counter.stats(); repeats != 0 {
				t.Errorf("%d events were delivered more than once during a hand-over between live members", repeats)
			}
			if n := lost.Load(); n != 0 {
				t.Errorf("%d partitions were lost (fenced) by a live member", n)
			}
		})
	}
}

// TestLeasesPoolKeepsSlowHandlersFromFencing: every connection of the
// handlers' pool is held by a transaction whose handler takes longer than
// the lease TTL. Heartbeats and renewals go through Config.Leases, a pool of
// their own, so the leases stay alive: none is ever seen expired, nothing is
// fenced and no event is handled twice.
func TestLeasesPoolKeepsSlowHandlersFromFencing(t *testing.T) {
	e := newEnv(t)
	ctx := pgtest.Context(t, 2*time.Minute)
	poolOf := func(n int32) *pgxpool.Pool {
		cfg, err := pgxpool.ParseConfig(e.url)
		if err != nil {
			t.Fatal(err)
		}
		cfg.MaxConns = n
		p, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	small := poolOf(2)
	t.Cleanup(small.Close)
	handlers, err := checkpoint.NewPostgres(small, e.schema)
	if err != nil {
		t.Fatal(err)
	}
	leasePool := poolOf(2)
	t.Cleanup(leasePool.Close)
	leases, err := checkpoint.NewPostgres(leasePool, e.schema)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		appendAmount(t, e.log, fmt.Sprintf("slow-%d", i), 1)
	}
	var counter deliveryCounter
	var lost atomic.Int64
	cfg := worker.Config{Log: e.log, Checkpoints: handlers, Leases: leases, MemberID: "m", LeaseTTL: time.Second,
		Hooks: worker.Hooks{LeaseChanged: func(sub string, partition int, owned bool, reason string) {
			if !owned && (reason == "lease lost" || reason == "fenced") {
				lost.Add(1)
			}
		}}}
	sub := worker.NewSubscription("slowtx",
		worker.Partitions(2),
		worker.OnAny(func(ctx context.Context, d *worker.Delivery) error {
			counter.add(d.Event.ID)
			time.Sleep(1500 * time.Millisecond) // inside the batch's transaction: its connection is held
			return nil
		}),
	)
	startWorker(t, cfg, sub)
	expired := 0
	waitFor(t, time.Minute, "every event handled", func() bool {
		// Meanwhile the leases must stay alive (renewed through their own
		// pool), although the handlers hold every connection of theirs.
		parts, _ := e.cps.Partitions(ctx, "slowtx")
		for _, p := range parts {
			if p.Owner != "" && !p.Leased(time.Now()) {
				expired++
			}
		}
		d, _ := counter.stats()
		return d == 6 && caughtUp(t, e.log, e.cps, "slowtx")
	})
	if expired > 0 {
		t.Errorf("leases seen expired %d times while handlers held every connection", expired)
	}
	if _, repeats := counter.stats(); repeats != 0 {
		t.Errorf("%d events handled twice", repeats)
	}
	if n := lost.Load(); n != 0 {
		t.Errorf("%d partitions lost while handlers held every connection", n)
	}
}
