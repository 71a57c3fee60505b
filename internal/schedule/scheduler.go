package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/causewayhq/causeway/internal/pgtext"
)

// Scheduler runs jobs on the elected leader of the processes that share a
// database schema. Create it with New and start it with Run.
type Scheduler struct {
	cfg   Config
	jobs  []*job
	store store
	elect *elector
}

// job is a Job with its parsed schedule.
type job struct {
	name  string
	sched cron.Schedule
	run   func(context.Context) error
}

// New checks cfg (every name unique, every expression valid) and returns a
// scheduler. It does no I/O.
func New(cfg Config) (*Scheduler, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	s := &Scheduler{cfg: cfg, store: newStore(cfg.Pool, cfg.Schema)}
	seen := map[string]bool{}
	var errs []error
	add := func(name, spec string, run func(context.Context) error) {
		if name == "" || run == nil || seen[name] {
			errs = append(errs, fmt.Errorf("schedule: job %q needs a unique name and a Run function", name))
			return
		}
		seen[name] = true
		sched, err := Parse(spec)
		if err != nil {
			errs = append(errs, fmt.Errorf("job %q: %w", name, err))
			return
		}
		s.jobs = append(s.jobs, &job{name: name, sched: sched, run: run})
	}
	for _, j := range cfg.Jobs {
		add(j.Name, j.Spec, j.Run)
	}
	for _, p := range cfg.Retention {
		if err := p.validate(); err != nil {
			errs = append(errs, fmt.Errorf("schedule: retention policy for %q: %w", p.Category, err))
			continue
		}
		if p.Schedule == "" {
			p.Schedule = DefaultRetentionSchedule
		}
		add(p.JobName(), p.Schedule, s.retentionJob(p))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	connCfg := cfg.Pool.Config().ConnConfig.Copy()
	if connCfg.RuntimeParams == nil {
		connCfg.RuntimeParams = map[string]string{}
	}
	if connCfg.RuntimeParams["application_name"] == "" {
		connCfg.RuntimeParams["application_name"] = pgtext.Truncate(pgtext.Sanitize("causeway scheduler "+cfg.MemberID), 63)
	}
	// The server frees a vanished leader's lock only once it sees the
	// session is dead: have it probe after 10 s idle, giving up after 25 s
	// (the operating system's default is hours).
	for k, v := range map[string]string{"tcp_keepalives_idle": "10", "tcp_keepalives_interval": "5", "tcp_keepalives_count": "3"} {
		if _, set := connCfg.RuntimeParams[k]; !set {
			connCfg.RuntimeParams[k] = v
		}
	}
	s.elect = newElector(connCfg, LeaderLockKey(cfg.Schema), cfg.RetryInterval, cfg.CheckInterval, cfg.Logger)
	return s, nil
}

// Run competes for leadership until ctx ends; while this process leads, it
// runs every job. It returns nil when ctx ends: database errors are logged
// and retried, never returned.
func (s *Scheduler) Run(ctx context.Context) error {
	defer s.elect.release()
	for {
		if err := s.elect.acquire(ctx); err != nil {
			return nil
		}
		s.cfg.Logger.Info("schedule: leader elected", "member", s.cfg.MemberID, "jobs", len(s.jobs))
		lost := s.lead(ctx)
		if !lost {
			return nil
		}
		s.cfg.Logger.Warn("schedule: leadership lost", "member", s.cfg.MemberID)
		// Step back for a round so that a healthier follower can take over
		// rather than this process winning the lock straight back.
		if err := sleep(ctx, s.cfg.RetryInterval); err != nil {
			return nil
		}
	}
}

// lead runs the job loops while the lock holds. It returns true when
// leadership was lost, false when ctx ended. Either way every job loop has
// stopped when it returns, and on shutdown the lock is released only after
// that, so a follower cannot start a job that is still finishing here.
func (s *Scheduler) lead(ctx context.Context) bool {
	lctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, j := range s.jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.loop(lctx, j)
		}()
	}
	err := s.elect.hold(ctx)
	cancel()
	wg.Wait()
	s.elect.release()
	return errors.Is(err, errLost)
}

// loop fires one job at its scheduled times until ctx ends.
func (s *Scheduler) loop(ctx context.Context, j *job) {
	logger := s.cfg.Logger.With("job", j.name)
	for ctx.Err() == nil {
		st, err := s.store.load(ctx, j.name)
		if err != nil {
			s.pause(ctx, logger, err)
			continue
		}
		anchor := st.CreatedAt
		if st.LastRunAt != nil {
			anchor = *st.LastRunAt
		}
		due := nextDue(j.sched, anchor, time.Now(), s.cfg.Location)
		if due.IsZero() {
			logger.Warn("schedule: job has no future occurrence")
			<-ctx.Done()
			return
		}
		if err := sleep(ctx, time.Until(due)); err != nil {
			return
		}
		ok, err := s.store.claim(ctx, j.name, st.LastRunAt, due, s.cfg.MemberID)
		if err != nil {
			s.pause(ctx, logger, err)
			continue
		}
		if !ok {
			// Another leader claimed a run meanwhile: read the state again.
			logger.Warn("schedule: run claimed elsewhere", "scheduled_at", due)
			continue
		}
		s.execute(ctx, j, due)
	}
}

// pause logs a database error and waits a little before the next attempt.
func (s *Scheduler) pause(ctx context.Context, logger *slog.Logger, err error) {
	if ctx.Err() != nil {
		return
	}
	logger.Warn("schedule: state", "err", err)
	_ = sleep(ctx, s.cfg.RetryInterval)
}
