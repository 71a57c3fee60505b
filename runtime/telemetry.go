package runtime

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/saga"
	"github.com/causewayhq/causeway/worker"
)

// telemetry holds the process's metrics and tracing (placeholder: the
// OpenTelemetry implementation replaces it).
type telemetry struct{}

func newTelemetry(app string) (*telemetry, error) { return &telemetry{}, nil }

func (t *telemetry) enrich(ctx context.Context, m *eventlog.Metadata) {}

func (t *telemetry) wrapHandler(sub string, h worker.Handler) worker.Handler { return h }

func (t *telemetry) workerHooks() worker.Hooks { return worker.Hooks{} }

func (t *telemetry) sagaHooks() saga.Hooks { return saga.Hooks{} }

func (t *telemetry) metricsHandler() http.Handler { return http.NotFoundHandler() }

// collect refreshes gauges (lag, horizon, dead letters) until ctx ends.
func (t *telemetry) collect(ctx context.Context, ops *Ops, logger *slog.Logger) error {
	<-ctx.Done()
	return nil
}
