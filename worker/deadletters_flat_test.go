package worker_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/worker"
)

// countingStore counts the store calls whose cost grows with the dead
// letters waiting, and the membership rounds (Heartbeat).
type countingStore struct {
	checkpoint.Store
	blockedKeys, counts, heartbeats atomic.Int64
}

func (s *countingStore) BlockedKeys(ctx context.Context, sub string, partition int) (map[string]checkpoint.BlockedKey, error) {
	s.blockedKeys.Add(1)
	return s.Store.BlockedKeys(ctx, sub, partition)
}

func (s *countingStore) CountDeadLetters(ctx context.Context, sub string) (int, error) {
	s.counts.Add(1)
	return s.Store.CountDeadLetters(ctx, sub)
}

func (s *countingStore) Heartbeat(ctx context.Context, sub string, m checkpoint.Member, ttl time.Duration) (int, error) {
	s.heartbeats.Add(1)
	return s.Store.Heartbeat(ctx, sub, m, ttl)
}

// TestDeadLettersAreNotRereadWhileIdle: a partition reads its blocked keys
// once, when it claims the partition, and keeps them: operators' retries
// (here through another store, as from another process) are still seen and
// served in order, but no poll re-reads every dead letter, and no
// membership round counts them while nothing fails.
func TestDeadLettersAreNotRereadWhileIdle(t *testing.T) {
	e := newEnv(t)
	const keys = 16
	var broken atomic.Bool
	sub := badKeysSubscription(e, "flat", 4, &broken)
	store := &countingStore{Store: e.cps}
	cfg := e.config("m")
	cfg.Checkpoints = store
	cfg.LeaseTTL = time.Second
	cfg.RetryPollInterval = 10 * time.Millisecond
	var claims atomic.Int64
	cfg.Hooks.LeaseChanged = func(_ string, _ int, owned bool, _ string) {
		if owned {
			claims.Add(1)
		}
	}
	startWorker(t, cfg, sub)
	ctx := pgtest.Context(t, time.Minute)
	for i := range keys {
		for v := 1; v <= 2; v++ {
			ev, _ := eventlog.NewEvent("Amount", amount{N: int64(v)})
			if _, err := e.log.Append(ctx, fmt.Sprintf("bad-%d", i), eventlog.Any, ev); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitFor(t, 30*time.Second, "every bad key dead-lettered, its second event parked", func() bool {
		n, _ := e.cps.CountDeadLetters(ctx, "flat")
		return n == 2*keys
	})
	countsBefore := store.counts.Load()

	// Retries asked for one key at a time, each seen by a poll.
	broken.Store(false)
	admin := worker.DeadLetterAdmin{Store: e.cps}
	for i := range 4 {
		dls, err := e.cps.DeadLetters(ctx, checkpoint.DeadLetterQuery{Subscription: "flat", Key: fmt.Sprintf("bad-%d", i)})
		if err != nil || len(dls) != 2 {
			t.Fatalf("dead letters of bad-%d: %v, %v", i, dls, err)
		}
		if err := admin.Retry(ctx, "flat", dls[1].ID); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, fmt.Sprintf("bad-%d retried in order", i), func() bool {
			return e.readModel(t)[fmt.Sprintf("bad-%d", i)].LastVersion == 2
		})
	}
	// Two more membership rounds, with nothing failing.
	beats := store.heartbeats.Load()
	waitFor(t, 10*time.Second, "two membership rounds", func() bool { return store.heartbeats.Load() >= beats+2 })

	if got, want := store.blockedKeys.Load(), claims.Load(); got > want {
		t.Fatalf("BlockedKeys read %d times for %d claims: a poll re-reads every dead letter", got, want)
	}
	if got := store.counts.Load(); got != countsBefore {
		t.Fatalf("dead letters counted %d times while nothing failed", got-countsBefore)
	}
	if n, _ := e.cps.CountDeadLetters(ctx, "flat"); n != 2*(keys-4) {
		t.Fatalf("%d dead letters left, want %d", n, 2*(keys-4))
	}
}

// listeningStore is countingStore that also counts retry polls and passes
// the PostgreSQL store's retry announcements on.
type listeningStore struct {
	countingStore
	pg    *checkpoint.PostgresStore
	polls atomic.Int64
}

func (s *listeningStore) RetryRequests(ctx context.Context, sub string) (map[int][]string, error) {
	s.polls.Add(1)
	return s.Store.RetryRequests(ctx, sub)
}

func (s *listeningStore) ListenRetries(ctx context.Context, wake func(string)) {
	s.pg.ListenRetries(ctx, wake)
}

// TestRetryRequestsAreAnnounced: with a store that announces operators'
// retry requests (NOTIFY), a worker whose partitions hold dead letters does
// not poll for requests while nothing happens (each poll wakes a backend:
// idle server CPU grew with dead letters present), yet acts on a retry at
// once — the fallback poll is set to an hour here, so only the
// announcement can bring it.
func TestRetryRequestsAreAnnounced(t *testing.T) {
	e := newEnv(t)
	const keys = 4
	var broken atomic.Bool
	sub := badKeysSubscription(e, "announced", 2, &broken)
	store := &listeningStore{countingStore: countingStore{Store: e.cps}, pg: e.cps}
	cfg := e.config("m")
	cfg.Checkpoints = store
	cfg.LeaseTTL = time.Second
	cfg.RetryPollInterval = 10 * time.Millisecond
	cfg.RetryFallbackInterval = time.Hour
	startWorker(t, cfg, sub)
	ctx := pgtest.Context(t, time.Minute)
	for i := range keys {
		ev, _ := eventlog.NewEvent("Amount", amount{N: 1})
		if _, err := e.log.Append(ctx, fmt.Sprintf("bad-%d", i), eventlog.Any, ev); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 30*time.Second, "every bad key dead-lettered", func() bool {
		n, _ := e.cps.CountDeadLetters(ctx, "announced")
		return n == keys
	})
	// Three membership rounds with dead letters held and nothing to retry.
	polls, beats := store.polls.Load(), store.heartbeats.Load()
	waitFor(t, 10*time.Second, "three membership rounds", func() bool { return store.heartbeats.Load() >= beats+3 })
	if n := store.polls.Load() - polls; n > 0 {
		t.Fatalf("%d retry polls while idle with dead letters (RetryPollInterval 10ms): want none", n)
	}

	broken.Store(false)
	admin := worker.DeadLetterAdmin{Store: e.cps}
	dls, err := e.cps.DeadLetters(ctx, checkpoint.DeadLetterQuery{Subscription: "announced", Key: "bad-2"})
	if err != nil || len(dls) != 1 {
		t.Fatalf("dead letters of bad-2: %v, %v", dls, err)
	}
	if err := admin.Retry(ctx, "announced", dls[0].ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "bad-2 retried on the announcement", func() bool {
		return e.readModel(t)["bad-2"].LastVersion == 1
	})
}

// badKeysSubscription is a subscription of partitions whose handler fails
// every event of a "bad-" stream while broken is set (set here), dead-
// lettering it at once, and applies the others to the read model.
func badKeysSubscription(e *env, name string, partitions int, broken *atomic.Bool) worker.Subscription {
	broken.Store(true)
	return worker.NewSubscription(name,
		worker.Partitions(partitions),
		worker.Retry(worker.RetryPolicy{MaxAttempts: 1}),
		worker.On(func(ctx context.Context, d *worker.Delivery, ev eventlog.Envelope[amount]) error {
			if strings.HasPrefix(d.Event.StreamID, "bad-") && broken.Load() {
				return errors.New("broken")
			}
			return applyReadModel(ctx, d.Tx, e.schema, d.Event, ev.Data)
		}),
	)
}
