package runtime

import (
	"context"
	"net/http"
	"time"
)

// APIHandler exposes the management API handler to the external tests.
func (r *Runtime) APIHandler() http.Handler { return r.apiHandler() }

// SetMetricsInterval sets how often Run refreshes the gauges (before Run).
func (r *Runtime) SetMetricsInterval(d time.Duration) { r.metricsInterval = d }

// SetQueuePurgeSchedule sets when the leader purges the queues (before Run).
func (r *Runtime) SetQueuePurgeSchedule(spec string) { r.purgeSchedule = spec }

// CheckQueues exposes the check of consumers' queues to the external tests.
func (r *Runtime) CheckQueues(ctx context.Context, names ...string) error {
	return r.checkQueues(ctx, names...)
}
