// Package telemetry is the runtime's observability: OpenTelemetry metrics,
// served in the Prometheus exposition format by MetricsHandler; traces that
// continue the appender's trace into every handler (WrapHandler, Enrich);
// OTLP export as the standard OTEL_* variables say (NewExport); and a
// logger that names the trace and the event a record is about
// (NewLogger, ContextLogger). Package runtime wires it into every worker
// and saga executor; a program composing the stores itself can use it the
// same way.
package telemetry
