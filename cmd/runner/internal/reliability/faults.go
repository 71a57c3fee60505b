package reliability

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/causewayhq/causeway/internal/pgembed"
)

// pgFaultGap is the least time between two PostgreSQL faults: each takes
// everything down for a moment, and the system needs time to do work
// between them.
const pgFaultGap = 10 * time.Second

// injector injects the process and PostgreSQL faults at random times drawn
// from the seed (the operator has its own loop).
type injector struct {
	opts     Options
	fleet    *fleet
	cluster  *pgembed.Cluster // nil: no PostgreSQL faults
	tl       *timeline
	work     *workload
	rng      *rand.Rand
	progress io.Writer
	start    time.Time

	lastPG time.Time // the last PostgreSQL fault (the injector's goroutine only)

	mu     sync.Mutex // guards counts, which the run reads at the end
	counts map[string]int
}

func (in *injector) count(kind string) {
	in.mu.Lock()
	in.counts[kind]++
	in.mu.Unlock()
}

// say prints a progress line.
func (in *injector) say(format string, args ...any) {
	fmt.Fprintf(in.progress, "[%6.1fs] %s\n", time.Since(in.start).Seconds(), fmt.Sprintf(format, args...))
}

// run injects faults until ctx ends. When a backlog builds (the initial
// one, and each burst) it first runs a storm of joins and leaves: churn
// during catch-up is where hand-overs go wrong.
func (in *injector) run(ctx context.Context) error {
	var bursting <-chan struct{}
	if in.work != nil {
		bursting = in.work.bursting
	}
	in.storm(ctx)
	for {
		wait := time.Duration(float64(in.opts.FaultEvery) * (0.3 + 1.4*in.rng.Float64()))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-bursting:
			t.Stop()
			in.storm(ctx)
			continue
		case <-t.C:
		}
		if err := in.one(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// storm leaves and joins consumers every few hundred milliseconds, five
// times each, while the consumers catch up with a backlog.
func (in *injector) storm(ctx context.Context) {
	if !in.opts.enabled(FaultJoin) || !in.opts.enabled(FaultLeave) || in.opts.Workers < 2 {
		return
	}
	in.say("membership storm: five leave/join cycles while the consumers catch up")
	for range 5 {
		if sleep(ctx, time.Duration(300+in.rng.IntN(700))*time.Millisecond) != nil {
			return
		}
		if running := in.fleet.running(); len(running) >= 2 {
			p := running[in.rng.IntN(len(running))]
			in.fleet.leave(p, FaultLeave)
			in.count(FaultLeave)
			in.say("  storm: leave %s (SIGTERM)", p.member)
		}
		if sleep(ctx, time.Duration(300+in.rng.IntN(700))*time.Millisecond) != nil {
			return
		}
		if len(in.fleet.running()) < in.opts.Workers {
			p, err := in.fleet.start()
			if err != nil {
				return
			}
			in.tl.add(FaultJoin, p.member)
			in.count(FaultJoin)
			in.say("  storm: join %s", p.member)
		}
	}
}

// one injects one fault chosen among those that apply now.
func (in *injector) one(ctx context.Context) error {
	running := in.fleet.running()
	weights := map[string]int{}
	if len(running) >= 2 {
		weights[FaultKill], weights[FaultLeave] = 2, 4
	}
	if len(running) < in.opts.Workers {
		weights[FaultJoin] = 4
		if len(running) < 2 {
			weights[FaultJoin] = 8
		}
	}
	if in.cluster != nil && time.Since(in.lastPG) >= pgFaultGap {
		weights[FaultPGCrash], weights[FaultPGRestart] = 2, 1
	}
	// Every enabled kind comes once before any comes by weight, so even a
	// short run covers them all.
	in.mu.Lock()
	fresh := map[string]int{}
	for k, w := range weights {
		if in.counts[k] == 0 && in.opts.enabled(k) {
			fresh[k] = w
		}
	}
	in.mu.Unlock()
	if len(fresh) > 0 {
		weights = fresh
	}
	kinds := make([]string, 0, len(weights))
	total := 0
	for _, k := range AllFaults { // a fixed order: the seed decides
		if w := weights[k]; w > 0 && in.opts.enabled(k) {
			kinds = append(kinds, k)
			total += w
		}
	}
	if total == 0 {
		return in.fleet.ensure(ctx, 1)
	}
	x := in.rng.IntN(total)
	kind := kinds[len(kinds)-1]
	for _, k := range kinds {
		if x < weights[k] {
			kind = k
			break
		}
		x -= weights[k]
	}
	switch kind {
	case FaultKill:
		p := running[in.rng.IntN(len(running))]
		in.fleet.kill(p)
		in.say("kill %s (SIGKILL)", p.member)
	case FaultLeave:
		p := running[in.rng.IntN(len(running))]
		in.fleet.leave(p, FaultLeave)
		in.say("leave %s (SIGTERM)", p.member)
	case FaultJoin:
		p, err := in.fleet.start()
		if err != nil {
			return err
		}
		in.tl.add(FaultJoin, p.member)
		in.say("join %s", p.member)
	case FaultPGCrash:
		if err := in.pgCrash(ctx); err != nil {
			return err
		}
	case FaultPGRestart:
		if err := in.pgRestart(ctx); err != nil {
			return err
		}
	}
	in.count(kind)
	// Without joins, replace what was taken away.
	if !in.opts.enabled(FaultJoin) {
		return in.fleet.ensure(ctx, in.opts.Workers)
	}
	return in.fleet.ensure(ctx, 1)
}

// pgCrash SIGKILLs the postmaster, waits a moment and restarts it: crash
// recovery, in which rolled-back transactions' ids may be handed out again.
// With rollbacks on, it usually crashes "quietly": the workload paused, a
// few transactions rolled back just before, so that their ids are the
// newest and their WAL possibly unflushed, and readers may have read past
// them (they read at least every second).
func (in *injector) pgCrash(ctx context.Context) error {
	quiet := in.work != nil && in.opts.enabled(FaultRollback) && in.rng.IntN(4) > 0
	if quiet {
		in.work.pause()
		defer in.work.resume()
		in.work.quietRollbacks(ctx, 2+in.rng.IntN(6))
		_ = sleep(ctx, time.Duration(10+in.rng.IntN(300))*time.Millisecond)
	}
	in.tl.add(FaultPGCrash, "")
	began := time.Now()
	if err := in.cluster.Crash(); err != nil {
		return fmt.Errorf("crash PostgreSQL: %w", err)
	}
	_ = sleep(ctx, time.Duration(200+in.rng.IntN(1300))*time.Millisecond)
	if err := in.restart(ctx); err != nil {
		return err
	}
	how := ""
	if quiet {
		how = ", just after rolled-back transactions"
	}
	in.say("PostgreSQL crashed (SIGKILL of the postmaster%s) and recovered in %v", how, time.Since(began).Round(time.Millisecond))
	return nil
}

// pgRestart shuts PostgreSQL down (fast mode) and starts it again.
func (in *injector) pgRestart(ctx context.Context) error {
	in.tl.add(FaultPGRestart, "")
	began := time.Now()
	if err := in.restart(ctx); err != nil {
		return err
	}
	in.say("PostgreSQL restarted in %v", time.Since(began).Round(time.Millisecond))
	return nil
}

// restart starts the cluster again, retrying for up to a minute, even if
// ctx ends: the run must not leave PostgreSQL down.
func (in *injector) restart(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	var err error
	for ctx.Err() == nil {
		if err = in.cluster.Restart(ctx); err == nil {
			in.lastPG = time.Now()
			in.tl.add(eventPGUp, "")
			return nil
		}
		_ = sleep(ctx, 500*time.Millisecond)
	}
	return fmt.Errorf("restart PostgreSQL: %w (log: %s)", err, in.cluster.LogPath())
}
