package runtime

import (
	"net/http"
	"time"
)

// APIHandler exposes the management API handler to the external tests.
func (r *Runtime) APIHandler() http.Handler { return r.apiHandler() }

// SetMetricsInterval sets how often Run refreshes the gauges (before Run).
func (r *Runtime) SetMetricsInterval(d time.Duration) { r.metricsInterval = d }
