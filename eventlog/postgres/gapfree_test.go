package postgres_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/eventlog/postgres"
)

// TestGapFreeGlobalOrder is the proof of the log's central claim. Sixteen
// appenders commit at least 50,000 events in transactions with random delays
// before commit; about 10% roll back; about a fifth write to several streams
// (so the order guard is exercised); while three readers follow the log from
// the start. Every reader must see every committed event exactly once, no
// rolled-back event, and each stream's versions in order without gaps.
func TestGapFreeGlobalOrder(t *testing.T) {
	s, pool := newStore(t, postgres.Config{})
	ctx := testCtx(t)

	const (
		appenders = 16
		target    = 50_000
		streams   = 64
	)
	var (
		committed     sync.Map // event id → stream id
		rolledBack    sync.Map // event id → struct{}
		nCommitted    atomic.Int64
		nRolledBack   atomic.Int64
		nMulti        atomic.Int64
		nConflicts    atomic.Int64
		appendersDone = make(chan struct{})
	)
	streamName := func(i int) string { return fmt.Sprintf("%s-%d", []string{"order", "payment", "stock"}[i%3], i) }

	var wg sync.WaitGroup
	errs := make(chan error, appenders+4)
	for w := 0; w < appenders; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for nCommitted.Load() < target {
				// Pick 1 stream, or 2–3 distinct ones in a fixed order (as an
				// application would, to avoid deadlocks).
				picks := []int{rng.IntN(streams)}
				if rng.IntN(5) == 0 {
					for len(picks) < 2+rng.IntN(2) {
						if p := rng.IntN(streams); !slices.Contains(picks, p) {
							picks = append(picks, p)
						}
					}
					slices.Sort(picks)
				}
				type written struct {
					id     uuid.UUID
					stream string
				}
				if len(picks) == 1 && rng.IntN(4) == 0 {
					// A quarter of single-stream appends take the other path:
					// Append in its own transaction (one pipelined round trip),
					// interleaving with the transactional ones on the same streams.
					batch := make([]eventlog.EventData, 1+rng.IntN(8))
					for i := range batch {
						batch[i] = eventlog.EventData{Type: "Written", Data: []byte(fmt.Sprintf(`{"w":%d}`, w))}
					}
					res, err := s.Append(ctx, streamName(picks[0]), eventlog.Any, batch...)
					if err != nil {
						errs <- err
						return
					}
					for _, id := range res.IDs {
						committed.Store(id, streamName(picks[0]))
					}
					nCommitted.Add(int64(len(res.IDs)))
					continue
				}
				var ids []written
				tx, err := pool.Begin(ctx)
				if err != nil {
					errs <- err
					return
				}
				retry := false
				for _, p := range picks {
					batch := make([]eventlog.EventData, 1+rng.IntN(8))
					for i := range batch {
						batch[i] = eventlog.EventData{ID: uuid.New(), Type: "Written", Data: []byte(fmt.Sprintf(`{"w":%d}`, w))}
						ids = append(ids, written{batch[i].ID, streamName(p)})
					}
					if _, err := s.AppendTx(ctx, tx, streamName(p), eventlog.Any, batch...); err != nil {
						if eventlog.IsRetryable(err) {
							nConflicts.Add(1)
							retry = true
							break
						}
						tx.Rollback(ctx)
						errs <- err
						return
					}
				}
				if !retry {
					time.Sleep(time.Duration(rng.IntN(1500)) * time.Microsecond) // random delay before commit
				}
				if retry || rng.IntN(10) == 0 {
					if err := tx.Rollback(ctx); err != nil {
						errs <- err
						return
					}
					for _, x := range ids {
						rolledBack.Store(x.id, struct{}{})
					}
					nRolledBack.Add(int64(len(ids)))
					continue
				}
				if err := tx.Commit(ctx); err != nil {
					errs <- err
					return
				}
				for _, x := range ids {
					committed.Store(x.id, x.stream)
				}
				nCommitted.Add(int64(len(ids)))
				if len(picks) > 1 {
					nMulti.Add(1)
				}
			}
		}(w)
	}

	type seen struct {
		events []eventlog.Event
	}
	readers := []eventlog.Filter{{}, {}, {Categories: []string{"order", "stock"}}}
	results := make([]seen, len(readers))
	var rwg sync.WaitGroup
	for r, filter := range readers {
		rwg.Add(1)
		go func(r int, filter eventlog.Filter) {
			defer rwg.Done()
			cursor := eventlog.Start
			var final eventlog.Position
			finished := false
			for {
				b, err := s.ReadBatch(ctx, cursor, filter, 200+r*150)
				if err != nil {
					errs <- fmt.Errorf("reader %d: %w", r, err)
					return
				}
				results[r].events = append(results[r].events, b.Events...)
				cursor = b.Next
				if !b.CaughtUp {
					continue
				}
				if finished && !cursor.Before(final) {
					return
				}
				select {
				case <-appendersDone:
					if !finished {
						if final, err = s.Head(ctx); err != nil {
							errs <- err
							return
						}
						finished = true
					}
				default:
					time.Sleep(time.Millisecond)
				}
			}
		}(r, filter)
	}

	wg.Wait()
	close(appendersDone)
	rwg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	committedTotal := 0
	committed.Range(func(_, _ any) bool { committedTotal++; return true })
	t.Logf("committed %d events, rolled back %d, multi-stream transactions %d, order/deadlock conflicts retried %d",
		nCommitted.Load(), nRolledBack.Load(), nMulti.Load(), nConflicts.Load())
	if committedTotal < target {
		t.Fatalf("only %d committed events", committedTotal)
	}
	if nMulti.Load() == 0 || nRolledBack.Load() == 0 {
		t.Fatal("the workload did not exercise multi-stream transactions and rollbacks")
	}

	for r, filter := range readers {
		got := results[r].events
		ids := make(map[uuid.UUID]bool, len(got))
		lastVersion := map[string]int64{}
		for i, e := range got {
			if ids[e.ID] {
				t.Fatalf("reader %d saw event %s twice", r, e.ID)
			}
			ids[e.ID] = true
			if _, bad := rolledBack.Load(e.ID); bad {
				t.Fatalf("reader %d saw rolled-back event %s", r, e.ID)
			}
			stream, ok := committed.Load(e.ID)
			if !ok || stream != e.StreamID {
				t.Fatalf("reader %d saw unknown event %s in %s", r, e.ID, e.StreamID)
			}
			if want := lastVersion[e.StreamID] + 1; e.Version != want {
				t.Fatalf("reader %d: stream %s version %d follows %d (event %d of the read)", r, e.StreamID, e.Version, want-1, i)
			}
			lastVersion[e.StreamID] = e.Version
			if i > 0 && !got[i-1].Position.Before(e.Position) {
				t.Fatalf("reader %d: positions not increasing at %d", r, i)
			}
		}
		want := 0
		committed.Range(func(id, stream any) bool {
			if filter.IsZero() || slices.Contains(filter.Categories, eventlog.Category(stream.(string))) {
				want++
				if !ids[id.(uuid.UUID)] {
					t.Errorf("reader %d missed committed event %s of %s", r, id, stream)
					return false
				}
			}
			return true
		})
		if len(got) != want {
			t.Fatalf("reader %d saw %d events, want %d", r, len(got), want)
		}
	}
}
