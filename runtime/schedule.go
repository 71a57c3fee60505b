package runtime

import "context"

// runner is something Run starts.
type runner interface{ Run(ctx context.Context) error }

// scheduler returns the cron scheduler, or nil when there is nothing to
// schedule (placeholder).
func (r *Runtime) scheduler() (runner, error) { return nil, nil }
