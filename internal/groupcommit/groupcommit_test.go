package groupcommit

import (
	"context"
	"sync"
	"testing"
	"time"
)

// doubler is a group whose batches double each request.
func doubler(inFlight, minBatch int) *Group[int, int] {
	return &Group[int, int]{InFlight: inFlight, MinBatch: minBatch, Exec: func(batch []*Item[int, int]) {
		for _, it := range batch {
			it.Finish(it.Req*2, nil)
		}
	}}
}

func submit(t *testing.T, g *Group[int, int], req int) {
	t.Helper()
	out, err := g.Submit(context.Background(), req)
	if err != nil || out != req*2 {
		t.Fatalf("Submit(%d) = %d, %v; want %d", req, out, err, req*2)
	}
}

// waitIdle waits until n runners wait for a start.
func waitIdle(t *testing.T, g *Group[int, int], n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		g.mu.Lock()
		idle := g.idle
		g.mu.Unlock()
		if idle == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d runners idle, want %d", idle, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestIdleRunnerIsHandedTheNextStart: a runner done with its batches
// takes the next start instead of a new goroutine; after runnerIdle
// without one it leaves, and the next start spawns again.
func TestIdleRunnerIsHandedTheNextStart(t *testing.T) {
	g := doubler(1, 0)
	submit(t, g, 1)
	waitIdle(t, g, 1)
	submit(t, g, 2)
	if n := g.spawned.Load(); n != 1 {
		t.Fatalf("%d runners spawned for two starts with one idle between, want 1", n)
	}
	waitIdle(t, g, 1)
	waitIdle(t, g, 0) // it leaves after runnerIdle
	submit(t, g, 3)
	if n := g.spawned.Load(); n != 2 {
		t.Fatalf("%d runners spawned, want 2 (the idle one left)", n)
	}
}

// TestConcurrentSubmitsAllComplete: under concurrent submits, with runners
// starting, going idle, being handed starts and leaving, every request
// gets its own outcome and no more than InFlight batches run at once.
func TestConcurrentSubmitsAllComplete(t *testing.T) {
	var (
		mu       sync.Mutex
		inFlight int
		peak     int
	)
	g := &Group[int, int]{InFlight: 3, MinBatch: 2}
	g.Exec = func(batch []*Item[int, int]) {
		mu.Lock()
		inFlight++
		peak = max(peak, inFlight)
		mu.Unlock()
		for _, it := range batch {
			it.Finish(it.Req*2, nil)
		}
		mu.Lock()
		inFlight--
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				submit(t, g, w*1000+i)
				if i%50 == 0 {
					time.Sleep(time.Millisecond) // let runners go idle
				}
			}
		}()
	}
	wg.Wait()
	if peak > 3 {
		t.Fatalf("%d batches ran at once, InFlight 3", peak)
	}
	if running, queued := g.State(); running != 0 || queued != 0 {
		t.Fatalf("after the last outcome: %d running, %d queued", running, queued)
	}
}
