package telemetry

// OpenTelemetry export as the standard OTEL_* environment variables say,
// for processes that ask for it (Config.TelemetryFromEnv; `run` does).
//
// Dependency: go.opentelemetry.io/contrib/exporters/autoexport, the
// OpenTelemetry project's own implementation of the exporter-selection
// variables (OTEL_TRACES_EXPORTER, OTEL_METRICS_EXPORTER: otlp, console,
// prometheus, none; OTEL_EXPORTER_OTLP_PROTOCOL: http/protobuf or grpc).
// The OTLP exporters under it read the rest themselves (endpoints, headers,
// TLS, compression, timeouts), the SDK reads OTEL_BSP_* and
// OTEL_METRIC_EXPORT_*, and resource.WithFromEnv reads OTEL_SERVICE_NAME
// and OTEL_RESOURCE_ATTRIBUTES: nothing of the specification is
// re-implemented here. It is an accepted addition for issue 10.
//
// One deviation: with none of the selection or endpoint variables set,
// nothing is exported (the specification's default is OTLP to localhost),
// so a runner without a collector does not log export failures forever.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// exportFlushTimeout bounds the last export at Close.
const exportFlushTimeout = 5 * time.Second

// Export is what the environment asked to export: build it with NewExport
// and give it to New.
type Export struct {
	res    *resource.Resource
	tp     *sdktrace.TracerProvider // nil: spans are not exported
	reader sdkmetric.Reader         // nil: metrics are not exported (beyond /metrics)
}

// exportAsked reports whether the environment asks to export a signal
// (TRACES or METRICS): its OTEL_<SIGNAL>_EXPORTER names an exporter other
// than none, or an OTLP endpoint (general or the signal's own) is set.
func exportAsked(signal string) bool {
	if sel := os.Getenv("OTEL_" + signal + "_EXPORTER"); sel != "" {
		return sel != "none"
	}
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_"+signal+"_ENDPOINT") != ""
}

// NewExport builds the exporters the environment asks for; spans only
// when traces is set (a program that brings its own TracerProvider
// exports its spans itself).
func NewExport(ctx context.Context, service string, traces bool) (*Export, error) {
	// Later options win: the environment overrides the app's name.
	res, err := resource.New(ctx, resource.WithAttributes(attribute.String("service.name", service)),
		resource.WithTelemetrySDK(), resource.WithFromEnv())
	if err != nil {
		return nil, fmt.Errorf("OpenTelemetry resource (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES): %w", err)
	}
	x := &Export{res: res}
	if traces && exportAsked("TRACES") {
		exp, err := autoexport.NewSpanExporter(ctx)
		if err != nil {
			return nil, fmt.Errorf("OpenTelemetry span exporter (OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP_*): %w", err)
		}
		if !autoexport.IsNoneSpanExporter(exp) {
			x.tp = sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
		}
	}
	if exportAsked("METRICS") {
		rd, err := autoexport.NewMetricReader(ctx)
		if err != nil {
			_ = x.Shutdown(ctx)
			return nil, fmt.Errorf("OpenTelemetry metric exporter (OTEL_METRICS_EXPORTER, OTEL_EXPORTER_OTLP_*): %w", err)
		}
		if !autoexport.IsNoneMetricReader(rd) {
			x.reader = rd
		}
	}
	return x, nil
}

// Install makes the exporting tracer provider the process's global one,
// so that the app's own spans (children of the handlers' spans) are
// exported too, with W3C trace context and baggage propagation, and sends
// the SDK's export errors to the logger.
func (x *Export) Install(logger *slog.Logger) {
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.Warn("causeway: OpenTelemetry export failed", "err", err)
	}))
	if x.tp != nil {
		otel.SetTracerProvider(x.tp)
		otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	}
}

// Shutdown flushes and stops the span exporter (the metric reader stops
// with its meter provider).
func (x *Export) Shutdown(ctx context.Context) error {
	if x == nil || x.tp == nil {
		return nil
	}
	return x.tp.Shutdown(ctx)
}

// Close flushes what is left to export, within a few seconds; without an
// export it does nothing.
func (t *Telemetry) Close(logger *slog.Logger) {
	if t.export == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), exportFlushTimeout)
	defer cancel()
	if err := errors.Join(t.export.Shutdown(ctx), t.provider.Shutdown(ctx)); err != nil {
		logger.Warn("causeway: flushing OpenTelemetry export failed", "err", err)
	}
}

// TracerProvider is the exporting tracer provider, nil when spans are not
// exported.
func (x *Export) TracerProvider() trace.TracerProvider {
	if x == nil || x.tp == nil {
		return nil
	}
	return x.tp
}
