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
	sub    Subscription
	member checkpoint.Member

	mu      sync.Mutex
	parts   map[int]*partition
	changed chan struct{} // wakes the reader when parts change
	kick    chan struct{} // wakes the membership loop early (a partition was fenced)

	deadLetters atomic.Int64 // last known count, for the cap
}

func newGroup(w *Worker, s Subscription) *group {
	host, _ := os.Hostname()
	return &group{
		w:       w,
		sub:     s,
		member:  checkpoint.Member{ID: w.cfg.MemberID, Host: host, PID: processID},
		parts:   make(map[int]*partition),
		changed: make(chan struct{}, 1),
		kick:    make(chan struct{}, 1),
	}
}

func (g *group) log() Log                { return g.w.cfg.Log }
func (g *group) store() checkpoint.Store { return g.w.cfg.Checkpoints }
func (g *group) ttl() time.Duration      { return g.w.cfg.LeaseTTL }
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
	g.membershipLoop(ctx)

	// Graceful stop: partitions finish their in-flight batch and commit;
	// then the reader stops, leases are released, membership removed.
	deadline, cancel := context.WithTimeout(context.Background(), g.w.cfg.ShutdownTimeout)
	defer cancel()
	var leases []checkpoint.Lease
	for _, p := range g.ownedPartitions() {
		p.stop()
	}
	for _, p := range g.ownedPartitions() {
		select {
		case <-p.done:
		case <-deadline.Done():
			p.abort()
			<-p.done
		}
		if !p.lost.Load() {
			leases = append(leases, p.lease)
		}
		g.removePartition(p, "shutdown")
	}
	stopReader()
	<-readerDone
	if err := g.store().Release(deadline, leases); err != nil {
		g.warn("causeway: release leases on shutdown failed; they expire after the TTL", "err", err)
	}
	if err := g.store().Leave(deadline, g.sub.Name, g.member.ID); err != nil {
		g.warn("causeway: leave group on shutdown failed", "err", err)
	}
}

// register creates the subscription (or checks it), retrying while the
// database is unreachable. It returns false when ctx ended first.
func (g *group) register(ctx context.Context) bool {
	backoff := 100 * time.Millisecond
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
		g.warn("causeway: register subscription failed; retrying", "err", err, "retry_in", backoff)
		if !sleep(ctx, backoff) {
			return false
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// membershipLoop heartbeats, renews, rebalances, and refreshes the
// dead-letter count, every TTL/3, until ctx ends.
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
	live, err := g.store().Heartbeat(ctx, g.sub.Name, g.member, g.ttl())
	if err != nil {
		if ctx.Err() == nil {
			g.warn("causeway: heartbeat failed", "err", err)
		}
		return
	}
	owned := g.ownedPartitions()
	var leases []checkpoint.Lease
	for _, p := range owned {
		leases = append(leases, p.lease)
	}
	kept, err := g.store().Renew(ctx, leases, g.ttl())
	if err != nil {
		if ctx.Err() == nil {
			g.warn("causeway: renew leases failed", "err", err)
		}
		return
	}
	held := map[int]bool{}
	for _, l := range kept {
		held[l.Partition] = true
	}
	var still []*partition
	for _, p := range owned {
		if held[p.lease.Partition] && !p.lost.Load() {
			still = append(still, p)
			continue
		}
		// Lost: another member owns it now. Stop at once; committing is
		// impossible anyway (fenced).
		p.lost.Store(true)
		p.abort()
		<-p.done
		g.removePartition(p, "lease lost")
	}

	if n, err := g.store().CountDeadLetters(ctx, g.sub.Name); err == nil {
		g.deadLetters.Store(int64(n))
	}

	share := (g.sub.Partitions + live - 1) / live
	switch {
	case len(still) > share:
		// Give extras back, highest partitions first, after their in-flight
		// batch; a newcomer claims them on its next round.
		extras := still[share:]
		var release []checkpoint.Lease
		for _, p := range extras {
			p.stop()
		}
		for _, p := range extras {
			<-p.done
			if !p.lost.Load() {
				release = append(release, p.lease)
			}
			g.removePartition(p, "rebalance")
		}
		if err := g.store().Release(ctx, release); err != nil {
			g.warn("causeway: release leases failed", "err", err)
		}
	case len(still) < share:
		claimed, err := g.store().Claim(ctx, g.sub.Name, g.member.ID, share-len(still), g.ttl())
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
	if g.parts[p.lease.Partition] != p {
		g.mu.Unlock()
		return // already removed
	}
	delete(g.parts, p.lease.Partition)
	g.mu.Unlock()
	g.logf("causeway: partition given up", "partition", p.lease.Partition, "epoch", p.lease.Epoch, "reason", reason)
	if reason == "fenced" {
		select {
		case g.kick <- struct{}{}:
		default:
		}
	}
	if h := g.w.cfg.Hooks.LeaseChanged; h != nil {
		h(g.sub.Name, p.lease.Partition, false, reason)
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
