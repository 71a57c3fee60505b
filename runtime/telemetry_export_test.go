package runtime

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/trace"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/saga"
	"github.com/causewayhq/causeway/worker"
)

// Telemetry exposes a telemetry value to the package's external tests.
type Telemetry struct{ t *telemetry }

// NewTelemetry builds a telemetry whose spans go to tp.
func NewTelemetry(app string, tp trace.TracerProvider) (*Telemetry, error) {
	t, err := newTelemetry(app, nil)
	if err != nil {
		return nil, err
	}
	t.tracerProvider = tp
	return &Telemetry{t: t}, nil
}

func (x *Telemetry) Enrich(ctx context.Context, m *eventlog.Metadata) { x.t.enrich(ctx, m) }
func (x *Telemetry) WrapHandler(sub string, h worker.Handler) worker.Handler {
	return x.t.wrapHandler(sub, h)
}
func (x *Telemetry) WorkerHooks() worker.Hooks    { return x.t.workerHooks() }
func (x *Telemetry) SagaHooks() saga.Hooks        { return x.t.sagaHooks() }
func (x *Telemetry) MetricsHandler() http.Handler { return x.t.metricsHandler() }
