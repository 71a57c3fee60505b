package postgres_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/eventlog/postgres"
)

// TestGroupCommitAcrossACrash: 16 goroutines append (without ids of their
// own, so through the lean batch statement, with exact expected versions)
// while PostgreSQL is SIGKILLed and recovers. Every append reported
// successful is in the log at the version and position it was given, with
// its ids, exactly once; every stream's versions are dense. (An append that
// failed may or may not have been stored: the crash may have come after its
// commit.) After the crash each goroutine re-reads its stream's version
// and carries on.
func TestGroupCommitAcrossACrash(t *testing.T) {
	ctx := testCtx(t)
	cluster, _, s := storeOnOwnCluster(t, postgres.Config{})

	type written struct {
		stream string
		ids    []uuid.UUID
		res    eventlog.AppendResult
	}
	const goroutines, streamsEach = 16, 4
	var (
		mu     sync.Mutex
		ok     []written
		okN    atomic.Int64
		failed atomic.Int64
		stop   atomic.Bool
		wg     sync.WaitGroup
	)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			versions := make([]int64, streamsEach)
			for !stop.Load() {
				k := rng.IntN(streamsEach)
				stream := fmt.Sprintf("acct-%d-%d", g, k)
				evs := make([]eventlog.EventData, 1+rng.IntN(3))
				for i := range evs {
					evs[i] = ev(t, "Deposited")
				}
				res, err := s.Append(ctx, stream, eventlog.Exactly(versions[k]), evs...)
				if err == nil {
					versions[k] = res.NextExpectedVersion
					mu.Lock()
					ok = append(ok, written{stream, res.IDs, res})
					mu.Unlock()
					okN.Add(1)
					continue
				}
				failed.Add(1)
				if ctx.Err() != nil {
					return
				}
				// The database is away, or the append's fate is unknown:
				// learn the stream's version once it answers again.
				for !stop.Load() {
					v, err := streamVersion(ctx, s, stream)
					if err == nil {
						versions[k] = v
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	waitN := func(what string, n int64) {
		t.Helper()
		for okN.Load() < n {
			if ctx.Err() != nil {
				stop.Store(true)
				t.Fatalf("%s: %d appends succeeded", what, okN.Load())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitN("before the crash", 1500)
	if err := cluster.Crash(); err != nil {
		t.Fatal(err)
	}
	if err := cluster.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	waitN("after the crash", okN.Load()+1500)
	stop.Store(true)
	wg.Wait()
	if failed.Load() == 0 {
		t.Fatal("no append failed: the crash did not meet appends in flight")
	}

	stored := map[string][]eventlog.Event{}
	seen := map[uuid.UUID]bool{}
	for g := range goroutines {
		for k := range streamsEach {
			stream := fmt.Sprintf("acct-%d-%d", g, k)
			for e, err := range s.ReadStream(ctx, stream, eventlog.ReadStreamOptions{}) {
				if err != nil {
					t.Fatal(err)
				}
				if e.Version != int64(len(stored[stream])+1) {
					t.Fatalf("%s: version %d after %d events", stream, e.Version, len(stored[stream]))
				}
				if seen[e.ID] {
					t.Fatalf("event %s stored twice", e.ID)
				}
				seen[e.ID] = true
				stored[stream] = append(stored[stream], e)
			}
		}
	}
	for _, w := range ok {
		first := w.res.NextExpectedVersion - int64(len(w.ids)) + 1
		for i, id := range w.ids {
			v := first + int64(i)
			evs := stored[w.stream]
			if v < 1 || v > int64(len(evs)) {
				t.Fatalf("%s: append reported at version %d, the stream has %d events", w.stream, v, len(evs))
			}
			e := evs[v-1]
			if e.ID != id || e.Position != w.res.Positions[i] {
				t.Fatalf("%s version %d: stored %s at %v, the append reported %s at %v", w.stream, v, e.ID, e.Position, id, w.res.Positions[i])
			}
		}
	}
	t.Logf("%d appends succeeded, %d failed around the crash", okN.Load(), failed.Load())
}
