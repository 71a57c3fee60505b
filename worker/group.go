package worker

import (
	"context"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
)

// group is one subscription running in this process.
type group struct {
	w      *Worker
	sub    subscription
	member checkpoint.Member

	mu      sync.Mutex
	parts   map[int]*partition
	changed chan struct{} // wakes the reader when parts change
	// retryWake wakes the retry poll: an operator's request was announced
	// (checkpoint.RetryListener).
	retryWake chan struct{}
	kick      chan struct{} // wakes the membership loop early (a partition was fenced)

	deadLetters atomic.Int64 // last known count, for the cap
	countedAt   atomic.Int64 // when it was last counted (UnixNano), see countDeadLetters
}

func newGroup(w *Worker, s subscription) *group {
	host, _ := os.Hostname()
	return &group{
		w:       w,
		sub:     s,
		member:  checkpoint.Member{ID: w.cfg.MemberID, Host: host, PID: processID},
		parts:   make(map[int]*partition),
		changed: make(chan struct{}, 1),
		kick:    make(chan struct{}, 1),

		retryWake: make(chan struct{}, 1),
	}
}

func (g *group) log() Log                { return g.w.cfg.Log }
func (g *group) store() checkpoint.Store { return g.w.cfg.Checkpoints }

// leases is the store for membership and leases (see Config.Leases).
func (g *group) leases() checkpoint.Store { return g.w.cfg.Leases }
func (g *group) ttl() time.Duration       { return g.w.cfg.LeaseTTL }
func (g *group) logf(msg string, args ...any) {
	g.w.cfg.Logger.Info(msg, append([]any{"subscription", g.sub.Name}, args...)...)
}
func (g *group) warn(msg string, args ...any) {
	g.w.cfg.Logger.Warn(msg, append([]any{"subscription", g.sub.Name}, args...)...)
}

func (g *group) notifyChanged() {
	select {
	case g.changed <- struct{}{}:
	default:
	}
}

// run registers the subscription, then runs the reader and the membership
// loop until ctx ends, and shuts down gracefully.
func (g *group) run(ctx context.Context) {
	if !g.register(ctx) {
		return
	}
	readerCtx, stopReader := context.WithCancel(context.Background())
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		g.readLoop(readerCtx)
	}()
	pollDone := make(chan struct{})
	go func() {
		defer close(pollDone)
		g.retryPollLoop(readerCtx)
	}()
	g.membershipLoop(ctx)

	// Graceful stop: partitions finish the chunk in hand, commit and give
	// their leases back, while this goroutine keeps their leases alive.
	deadline, cancel := context.WithTimeout(context.Background(), g.w.cfg.ShutdownTimeout)
	defer cancel()
	for _, p := range g.ownedPartitions() {
		p.stop(reasonShutdown)
	}
	if !g.drain(deadline) {
		g.warn("causeway: partitions did not stop within the shutdown timeout; aborting them", "timeout", g.w.cfg.ShutdownTimeout)
		for _, p := range g.ownedPartitions() {
			p.abort()
		}
		late, cancelLate := context.WithTimeout(context.Background(), abortWait)
		if !g.drain(late) {
			g.warn("causeway: handlers ignore cancellation; leaving them behind", "partitions", len(g.ownedPartitions()))
		}
		cancelLate()
	}
	stopReader()
	<-readerDone
	<-pollDone
	leave, cancelLeave := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancelLeave()
	if err := g.leases().Leave(leave, g.sub.Name, g.member.ID); err != nil {
		g.warn("causeway: leave group on shutdown failed", "err", err)
	}
}

// abortWait is how long a shutdown waits for aborted handlers to return.
const abortWait = 5 * time.Second

// drain waits until every partition of the group has exited, renewing their
// leases meanwhile (a partition finishing its last chunk must not lose its
// lease for want of a heartbeat). It reports false if ctx ended first.
func (g *group) drain(ctx context.Context) bool {
	tick := time.NewTicker(g.ttl() / 3)
	defer tick.Stop()
	for {
		parts := g.ownedPartitions()
		if len(parts) == 0 {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-parts[0].done:
		case <-tick.C:
			g.renew(ctx, parts)
		}
	}
}

// register creates the subscription (or checks it), retrying while the
// database is unreachable. It returns false when ctx ended first.
func (g *group) register(ctx context.Context) bool {
	b := infraBackoff()
	for {
		start := eventlog.Start
		var err error
		if g.sub.Start == FromNow {
			start, err = g.log().Head(ctx)
		}
		if err == nil {
			_, err = g.store().Register(ctx, checkpoint.Subscription{Name: g.sub.Name, Partitions: g.sub.Partitions, StartAt: start})
			if err == nil {
				return true
			}
		}
		if ctx.Err() != nil {
			return false
		}
		wait, _ := b.Next()
		g.warn("causeway: register subscription failed; retrying", "err", err, "retry_in", wait)
		if !sleep(ctx, wait) {
			return false
		}
	}
}

// membershipLoop heartbeats, renews and rebalances every TTL/3, until ctx
// ends. It never waits for a
// handler: partitions asked to stop finish and give their leases back on
// their own, and their leases are renewed here meanwhile.
func (g *group) membershipLoop(ctx context.Context) {
	tick := time.NewTicker(g.ttl() / 3)
	defer tick.Stop()
	for {
		g.membershipRound(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-g.kick:
			// A partition was fenced (say, by a replay's reset): re-claim
			// now rather than at the next tick.
		}
	}
}

func (g *group) membershipRound(ctx context.Context) {
	// Each round is bounded, so a database that stopped answering cannot
	// hold the loop past the leases it is meant to keep.
	ctx, cancel := context.WithTimeout(ctx, g.ttl())
	defer cancel()
	live, err := g.leases().Heartbeat(ctx, g.sub.Name, g.member, g.ttl())
	if err != nil {
		if ctx.Err() == nil {
			g.warn("causeway: heartbeat failed", "err", err)
		}
		return
	}
	held, ok := g.renew(ctx, g.ownedPartitions())
	if !ok {
		return
	}
	// Partitions on their way out do not count towards the share.
	var active []*partition
	for _, p := range held {
		if !p.stopRequested() {
			active = append(active, p)
		}
	}
	share := (g.sub.Partitions + live - 1) / live
	switch {
	case len(active) > share:
		// Give extras back, highest partitions first: each finishes the
		// chunk in hand, commits and releases its lease; a newcomer claims
		// them on its next round.
		for _, p := range active[share:] {
			p.stop(reasonRebalance)
		}
	case len(active) < share:
		claimed, err := g.leases().Claim(ctx, g.sub.Name, g.member.ID, share-len(active), g.ttl())
		if err != nil {
			if ctx.Err() == nil {
				g.warn("causeway: claim partitions failed", "err", err)
			}
			return
		}
		for _, l := range claimed {
			g.addPartition(l)
		}
	}
}

// renew extends the leases of the given partitions and stops those whose
// lease is gone. It returns the partitions still held, and false if the
// renewal failed.
func (g *group) renew(ctx context.Context, parts []*partition) ([]*partition, bool) {
	var leases []checkpoint.Lease
	for _, p := range parts {
		if !p.lost.Load() && !p.releasing.Load() {
			leases = append(leases, p.lease)
		}
	}
	kept, err := g.leases().Renew(ctx, leases, g.ttl())
	if err != nil {
		if ctx.Err() == nil {
			g.warn("causeway: renew leases failed", "err", err)
		}
		return nil, false
	}
	held := map[int]bool{}
	for _, l := range kept {
		held[l.Partition] = true
	}
	var still []*partition
	for _, p := range parts {
		switch {
		case p.lost.Load() || p.releasing.Load():
			// Gone already, or giving its lease back right now.
		case held[p.lease.Partition]:
			still = append(still, p)
		default:
			// Another member owns it now: stop at once (committing is
			// impossible anyway: fenced). The partition removes itself.
			p.lose(reasonLost)
		}
	}
	return still, true
}

func (g *group) ownedPartitions() []*partition {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]*partition, 0, len(g.parts))
	for _, p := range g.parts {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *partition) int { return a.lease.Partition - b.lease.Partition })
	return out
}

func (g *group) addPartition(l checkpoint.Lease) {
	p := newPartition(g, l)
	g.mu.Lock()
	g.parts[l.Partition] = p
	g.mu.Unlock()
	go p.run()
	g.logf("causeway: partition claimed", "partition", l.Partition, "epoch", l.Epoch, "checkpoint", l.Checkpoint)
	if h := g.w.cfg.Hooks.LeaseChanged; h != nil {
		h(g.sub.Name, l.Partition, true, "claimed")
	}
	g.notifyChanged()
}

func (g *group) removePartition(p *partition, reason string) {
	g.mu.Lock()
	ours := g.parts[p.lease.Partition] == p
	g.mu.Unlock()
	if !ours {
		return // already removed, or claimed again since
	}
	// Log and tell the hooks before the partition leaves the map: a
	// shutdown waits for the map to empty (drain), so nothing of a
	// partition runs after Run has returned.
	g.logf("causeway: partition given up", "partition", p.lease.Partition, "epoch", p.lease.Epoch, "reason", reason)
	if h := g.w.cfg.Hooks.LeaseChanged; h != nil {
		h(g.sub.Name, p.lease.Partition, false, reason)
	}
	g.mu.Lock()
	if g.parts[p.lease.Partition] == p {
		delete(g.parts, p.lease.Partition)
	}
	g.mu.Unlock()
	if reason == reasonFenced || reason == reasonLost {
		select {
		case g.kick <- struct{}{}:
		default:
		}
	}
	g.notifyChanged()
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// countDeadLetters refreshes the dead-letter count the cap is checked
// against when it is older than a membership round: this process keeps it
// up to date for its own dead letters, other processes and operators
// change it too. Counting reads every dead letter, so it runs only when an
// event is about to be dead-lettered, never while events flow.
func (g *group) countDeadLetters(ctx context.Context) {
	if time.Since(time.Unix(0, g.countedAt.Load())) < g.ttl()/3 {
		return
	}
	if n, err := g.store().CountDeadLetters(ctx, g.sub.Name); err == nil {
		g.deadLetters.Store(int64(n))
		g.countedAt.Store(time.Now().UnixNano())
	}
}

// retryPollLoop looks for operators' retry requests while a partition of
// this process has blocked keys, and hands each owned partition its keys.
// It reads pending requests only (checkpoint.Store.RetryRequests), one
// query per subscription: its cost does not grow with the dead letters
// waiting, nor with the partitions. With a store that announces requests
// (checkpoint.RetryListener) it polls when one is announced and otherwise
// only every RetryFallbackInterval: an idle server is not woken every
// second per subscription for nothing. Without one it polls every
// RetryPollInterval.
func (g *group) retryPollLoop(ctx context.Context) {
	every := g.w.cfg.RetryPollInterval
	if g.w.retryPush {
		every = max(every, g.w.cfg.RetryFallbackInterval)
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-g.retryWake:
		}
		parts := g.ownedPartitions()
		if !slices.ContainsFunc(parts, func(p *partition) bool { return p.blockedCount.Load() > 0 }) {
			continue
		}
		reqs, err := g.leases().RetryRequests(ctx, g.sub.Name)
		if err != nil {
			if ctx.Err() == nil {
				g.warn("causeway: read retry requests failed", "err", err)
			}
			continue
		}
		for _, p := range parts {
			if keys := reqs[p.lease.Partition]; len(keys) > 0 {
				p.request(keys)
			}
		}
	}
}

// wakeRetryPoll makes the retry poll run now.
func (g *group) wakeRetryPoll() {
	select {
	case g.retryWake <- struct{}{}:
	default:
	}
}
