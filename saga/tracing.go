package saga

import (
	"context"
	"errors"
	"slices"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/internal/pgtext"
)

// Tracing: every attempt of a step or compensation is a span. Its parent is
// the W3C trace context the starting event carried in its metadata, kept
// on the instance (so an attempt days later, in another process, still
// joins that trace); the events a step emits carry the attempt's span on.
// The package only uses the OpenTelemetry API: the tracer provider is the
// executor's (ExecutorConfig.TracerProvider) or the global one, which the
// runtime installs.

// instrumentationName names the saga tracer.
const instrumentationName = "github.com/causewayhq/causeway/saga"

// propagator is W3C Trace Context, as for events elsewhere in Causeway.
var propagator propagation.TraceContext

const (
	traceParentKey = "traceparent"
	traceStateKey  = "tracestate"
)

// traceContext returns an event's trace context in canonical form, or
// empty strings when it has no valid one (so only a valid traceparent is
// ever stored).
func traceContext(m eventlog.Metadata) (parent, state string) {
	ctx := propagator.Extract(context.Background(), propagation.MapCarrier{traceParentKey: m.TraceParent, traceStateKey: m.TraceState})
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return "", ""
	}
	c := propagation.MapCarrier{}
	propagator.Inject(ctx, c)
	return c[traceParentKey], c[traceStateKey]
}

// withParent returns ctx with the instance's stored trace context as the
// remote parent, if it has one.
func (inst *Instance) withParent(ctx context.Context) context.Context {
	if inst.TraceParent == "" {
		return ctx
	}
	return propagator.Extract(ctx, propagation.MapCarrier{traceParentKey: inst.TraceParent, traceStateKey: inst.TraceState})
}

// tracer is the configured provider's tracer, else the global one's
// (looked up at each use, so a provider installed later still applies).
func (x *Executor) tracer() trace.Tracer {
	tp := x.cfg.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return tp.Tracer(instrumentationName)
}

// startSpan starts an attempt's span: "causeway.saga.<phase> <type>/<step>".
func (x *Executor) startSpan(ctx context.Context, inst *Instance, step string, phase Phase, event *eventlog.Event) (context.Context, trace.Span) {
	attrs := []attribute.KeyValue{
		attribute.String("causeway.saga.type", inst.Type),
		attribute.String("causeway.saga.id", inst.ID.String()),
		attribute.String("causeway.saga.correlation_id", inst.CorrelationID),
		attribute.String("causeway.saga.step", step),
		attribute.String("causeway.saga.phase", string(phase)),
		attribute.Int("causeway.attempt", inst.Attempts+1),
	}
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal)}
	if event != nil {
		attrs = append(attrs,
			attribute.String("causeway.event.type", event.Type),
			attribute.String("causeway.event.id", event.ID.String()),
			attribute.String("causeway.event.position", event.Position.String()))
		// The received event has a trace of its own: link it.
		md := event.Metadata
		if sc := trace.SpanContextFromContext(propagator.Extract(context.Background(),
			propagation.MapCarrier{traceParentKey: md.TraceParent, traceStateKey: md.TraceState})); sc.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
		}
	}
	opts = append(opts, trace.WithAttributes(attrs...))
	return x.tracer().Start(inst.withParent(ctx), "causeway.saga."+string(phase)+" "+inst.Type+"/"+step, opts...)
}

// endSpan records an attempt's error, in text an exporter can encode
// (OTLP strings must be UTF-8), and ends the span.
func endSpan(span trace.Span, err error) {
	if err != nil {
		text := pgtext.Sanitize(err.Error())
		if text != err.Error() {
			err = errors.New(text)
		}
		span.RecordError(err)
		span.SetStatus(codes.Error, text)
	}
	span.End()
}

// traced stamps the trace context of ctx's span on emitted events that
// carry none, so their handlers continue the saga's trace.
func traced(ctx context.Context, emits []Emit) []Emit {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return emits
	}
	c := propagation.MapCarrier{}
	propagator.Inject(ctx, c)
	for i := range emits {
		events := slices.Clone(emits[i].Events) // never write into the step's slice
		for j := range events {
			if events[j].Metadata.TraceParent == "" {
				events[j].Metadata.TraceParent, events[j].Metadata.TraceState = c[traceParentKey], c[traceStateKey]
			}
		}
		emits[i].Events = events
	}
	return emits
}
