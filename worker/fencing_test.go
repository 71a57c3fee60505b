package worker_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/worker"
)

// frozen wraps the real store and makes membership calls fail while frozen,
// as they would for a process stopped by the scheduler, a GC pause or a
// network partition: its leases are not renewed.
type frozen struct {
	checkpoint.Store
	on atomic.Bool
}

var errFrozen = errors.New("process frozen")

func (f *frozen) Heartbeat(ctx context.Context, sub string, m checkpoint.Member, ttl time.Duration) (int, error) {
	if f.on.Load() {
		return 0, errFrozen
	}
	return f.Store.Heartbeat(ctx, sub, m, ttl)
}

func (f *frozen) Renew(ctx context.Context, ls []checkpoint.Lease, ttl time.Duration) ([]checkpoint.Lease, error) {
	if f.on.Load() {
		return nil, errFrozen
	}
	return f.Store.Renew(ctx, ls, ttl)
}

// TestFencedOwnerCannotCommit: an owner paused past its lease, whose
// partition was taken over, cannot commit when it wakes: its transaction
// (with the read-model write) rolls back, and the event is applied once, by
// the new owner.
func TestFencedOwnerCannotCommit(t *testing.T) {
	e := newEnv(t)
	ctx := pgtest.Context(t, time.Minute)
	paused := make(chan struct{})
	wake := make(chan struct{})
	var once sync.Once
	sub := func(member string) worker.Subscription {
		return worker.NewSubscription("rm",
			worker.Partitions(1),
			worker.On(func(ctx context.Context, d *worker.Delivery, ev eventlog.Envelope[amount]) error {
				a := ev.Data

				if err := applyReadModel(ctx, d.Tx, e.schema, d.Event, a); err != nil {
					return err
				}
				if member == "old" && d.Event.StreamID == "pause-1" {
					once.Do(func() { close(paused) })
					<-wake // the process "stops" here, inside its transaction
				}
				return nil
			}),
		)
	}
	store := &frozen{Store: e.cps}
	var fenced atomic.Bool
	oldCfg := e.config("old")
	oldCfg.Checkpoints = store
	oldCfg.LeaseTTL = time.Second
	oldCfg.Hooks.LeaseChanged = func(_ string, _ int, owned bool, reason string) {
		if !owned && reason == "fenced" {
			fenced.Store(true)
		}
	}
	var oldCommits atomic.Int32
	oldCfg.Hooks.Committed = func(string, int, eventlog.Position, int) { oldCommits.Add(1) }
	startWorker(t, oldCfg, sub("old"))

	appendEvents(t, e.log, "acct", 3, 9)
	ev, _ := eventlog.NewEvent("Amount", amount{N: 100})
	if _, err := e.log.Append(ctx, "pause-1", eventlog.Any, ev); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, e.log, "after", 3, 6)
	<-paused
	store.on.Store(true) // the whole process is frozen now
	commitsBefore := oldCommits.Load()

	newCfg := e.config("new")
	newCfg.LeaseTTL = time.Second
	startWorker(t, newCfg, sub("new"))
	waitFor(t, 10*time.Second, "takeover", func() bool {
		parts, _ := e.cps.Partitions(ctx, "rm")
		return parts[0].Owner == "new" && parts[0].Epoch == 2
	})
	// The new owner is now blocked on the row the old transaction locked;
	// the old owner wakes up and tries to commit.
	store.on.Store(false)
	close(wake)
	waitFor(t, 10*time.Second, "old owner fenced", fenced.Load)
	if n := oldCommits.Load(); n != commitsBefore {
		t.Fatalf("the fenced owner committed %d more times", n-commitsBefore)
	}
	waitFor(t, 20*time.Second, "new owner caught up", func() bool {
		return e.readModelEvents(t) == 16
	})
	compareModels(t, e.readModel(t), e.fold(t, eventlog.Filter{}))
}
