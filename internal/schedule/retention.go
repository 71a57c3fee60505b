package schedule

import (
	"context"
	"fmt"
	"time"
)

// retentionJob is the built-in job that applies p on its schedule. The
// scheduler decides when; the event log deletes (its Store.ApplyRetention
// holds the statements and the batching).
func (s *Scheduler) retentionJob(p RetentionPolicy) func(context.Context) error {
	return func(ctx context.Context) error {
		start := time.Now()
		res, err := s.cfg.Log.ApplyRetention(ctx, p.retention(), s.cfg.Guards...)
		SetResult(ctx, fmt.Sprintf("deleted %d events in %d batches", res.Deleted, res.Batches))
		s.cfg.Logger.Info("schedule: retention", "category", p.Category, "deleted", res.Deleted,
			"batches", res.Batches, "force", p.Force, "took", time.Since(start), "err", err)
		return err
	}
}
