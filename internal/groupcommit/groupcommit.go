// Package groupcommit coalesces concurrent requests into batches, each run
// as one transaction: the group commit of the event log's appends and of
// the saga store's step outcomes.
//
// A Group keeps at most InFlight runners. A request that finds none running
// starts one at once (a lone request waits for nothing); requests arriving
// while one runs queue, and another runner starts beside it only once
// MinBatch of them wait; a runner done with a batch takes the next one from
// the queue (Pick chooses which), or gives its slot back when too little
// waits while another runner is in flight (that one takes it with what
// queued meanwhile). A request whose ctx ends while it is still queued is
// withdrawn: nothing of it runs.
//
// A runner that gave its slot back waits a while (runnerIdle) to be handed
// the next start instead of exiting: a goroutine started afresh begins on
// a small stack and grows it, copying, on its way down into the database
// driver, which showed in the appends' client CPU profile (issue 14).
package groupcommit

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Item is one queued request and, once its batch ran, its outcome.
type Item[R, O any] struct {
	Ctx   context.Context
	Req   R
	done  chan result[O] // buffered: a runner never blocks on it
	taken bool           // under Group.mu: a batch has it
}

type result[O any] struct {
	out O
	err error
}

// NewItem is an item for req, outside any group (Submit makes its own; a
// test of an Exec function makes them with this).
func NewItem[R, O any](ctx context.Context, req R) *Item[R, O] {
	return &Item[R, O]{Ctx: ctx, Req: req, done: make(chan result[O], 1)}
}

// Outcome waits for the item's outcome.
func (it *Item[R, O]) Outcome() (O, error) {
	r := <-it.done
	return r.out, r.err
}

// Finish hands the item its outcome; call it once per item of a batch.
func (it *Item[R, O]) Finish(out O, err error) { it.done <- result[O]{out, err} }

// Group is a group commit of requests R with outcomes O. Set its fields
// before the first Submit.
type Group[R, O any] struct {
	// InFlight bounds the runners (batches in flight); at least 1.
	InFlight int
	// MinBatch is how many requests must wait for a runner to start
	// beside one in flight (0 or 1: any).
	MinBatch int
	// Pick chooses the next batch from the queue, in order, returning the
	// batch and what stays queued (in order). Nil: the whole queue, up to
	// MaxBatch requests.
	Pick func(queue []*Item[R, O]) (batch, left []*Item[R, O])
	// MaxBatch bounds a batch when Pick is nil (0: no bound).
	MaxBatch int
	// Exec runs a batch and calls Finish on every item of it.
	Exec func(batch []*Item[R, O])

	mu      sync.Mutex
	queue   []*Item[R, O]
	running int
	idle    int           // runners waiting on wake, not yet handed a start
	wake    chan struct{} // hands a start to an idle runner
	spawned atomic.Int64  // runner goroutines started (for tests)
}

// runnerIdle is how long a runner with nothing to do waits for a start.
const runnerIdle = time.Second

// Submit queues req and waits for its outcome. If ctx ends while req is
// still queued, it is withdrawn and ctx's error returned; once a batch has
// it, the outcome is unknown to the caller, as with any cancelled statement.
func (g *Group[R, O]) Submit(ctx context.Context, req R) (O, error) {
	it := NewItem[R, O](ctx, req)
	g.mu.Lock()
	g.queue = append(g.queue, it)
	start := g.running == 0 || g.running < g.InFlight && len(g.queue) >= max(g.MinBatch, 1)
	handOff := false
	if start {
		g.running++
		if g.idle > 0 {
			g.idle--
			handOff = true
		}
	}
	wake := g.wake
	g.mu.Unlock()
	switch {
	case handOff:
		wake <- struct{}{} // an idle runner counted above receives it
	case start:
		g.spawned.Add(1)
		go g.run()
	}
	select {
	case r := <-it.done:
		return r.out, r.err
	case <-ctx.Done():
	}
	g.mu.Lock()
	if !it.taken {
		for i, q := range g.queue {
			if q == it {
				g.queue = append(g.queue[:i], g.queue[i+1:]...)
				break
			}
		}
	}
	g.mu.Unlock()
	var zero O
	return zero, ctx.Err()
}

// State reports how many runners are in flight and how many requests wait.
func (g *Group[R, O]) State() (running, queued int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.running, len(g.queue)
}

// run executes batches until there is nothing (or too little) to do, then
// waits up to runnerIdle to be handed another start.
func (g *Group[R, O]) run() {
	var timer *time.Timer
	for {
		for {
			batch := g.take()
			if batch == nil {
				break
			}
			g.Exec(batch)
		}
		g.mu.Lock()
		if g.wake == nil {
			g.wake = make(chan struct{})
		}
		g.idle++
		wake := g.wake
		g.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(runnerIdle)
		} else {
			timer.Reset(runnerIdle)
		}
		select {
		case <-wake:
			timer.Stop()
			continue
		case <-timer.C:
		}
		g.mu.Lock()
		if g.idle > 0 {
			// Not handed a start: leave (another idle runner's count or
			// this one's, either way one fewer waits).
			g.idle--
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		// Every idle runner was handed a start, this one's is on its way.
		<-wake
	}
}

// take removes the next batch from the queue, or gives the runner's slot
// back.
func (g *Group[R, O]) take() []*Item[R, O] {
	g.mu.Lock()
	defer g.mu.Unlock()
	live := g.queue[:0]
	for _, it := range g.queue {
		if it.Ctx.Err() != nil {
			var zero O
			it.Finish(zero, it.Ctx.Err())
			continue
		}
		live = append(live, it)
	}
	clear(g.queue[len(live):])
	g.queue = live
	if len(g.queue) == 0 || g.running > 1 && len(g.queue) < max(g.MinBatch, 1) {
		g.running--
		if len(g.queue) == 0 {
			g.queue = nil // drop the backing array
		}
		return nil
	}
	var batch, left []*Item[R, O]
	if g.Pick != nil {
		batch, left = g.Pick(g.queue)
	} else {
		n := len(g.queue)
		if g.MaxBatch > 0 {
			n = min(n, g.MaxBatch)
		}
		batch, left = g.queue[:n:n], g.queue[n:]
	}
	for _, it := range batch {
		it.taken = true
	}
	g.queue = left
	if len(batch) == 0 { // a Pick that took nothing: nothing to do now
		g.running--
		return nil
	}
	return batch
}

// BatchContext is cancelled once every request of the batch has given up,
// so a batch nobody waits for any more does not run on.
func BatchContext[R, O any](batch []*Item[R, O]) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	var left atomic.Int32
	left.Store(int32(len(batch)))
	stops := make([]func() bool, len(batch))
	for i, it := range batch {
		stops[i] = context.AfterFunc(it.Ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		})
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}
