package runtime

import (
	"context"

	pgstore "github.com/causewayhq/causeway/eventlog/postgres"
	"github.com/causewayhq/causeway/internal/schedule"
)

// runner is something Run starts.
type runner interface {
	Run(ctx context.Context) error
}

// scheduler returns the cron scheduler for the app's jobs, retention
// policies and queue purge, or nil when there is nothing to schedule.
// Every process runs one; the elected leader fires the jobs.
func (r *Runtime) scheduler() (runner, error) {
	if len(r.app.Jobs) == 0 && len(r.app.Retention) == 0 && len(r.app.Queues) == 0 {
		return nil, nil
	}
	cfg := schedule.Config{
		Pool:     r.pool,
		Schema:   r.cfg.Schema,
		MemberID: r.cfg.MemberID,
		Logger:   r.logger,
		Log:      r.Log,
		Guards:   []pgstore.RetentionGuard{r.Checkpoints.RetentionGuard(), r.Sagas.RetentionGuard()},
	}
	for _, j := range r.app.Jobs {
		cfg.Jobs = append(cfg.Jobs, schedule.Job{Name: j.Name, Spec: j.Schedule, Run: j.Run})
	}
	if len(r.app.Queues) > 0 {
		cfg.Jobs = append(cfg.Jobs, r.purgeJob())
	}
	for _, p := range r.app.Retention {
		cfg.Retention = append(cfg.Retention, schedule.RetentionPolicy{
			Category: p.Category, MaxAge: p.MaxAge, MaxCount: p.MaxCount, Force: p.Force, Schedule: p.Schedule,
		})
	}
	s, err := schedule.New(cfg)
	if err != nil {
		return nil, err
	}
	return s, nil
}
