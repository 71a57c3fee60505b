package telemetry

// Log records made with a handler's context name the event they are about:
// the runtime's logger adds the trace and span ids of the context's span
// (the handler's span continues the trace of the event's appender) and the
// event's correlation id, subscription and id. So a handler — or a
// failure logged from one — can be found from a trace, and a trace from a
// log line, without every call site adding them.

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"go.opentelemetry.io/otel/trace"

	"github.com/causewayhq/causeway/worker"
)

// deliveryKey is the context key of the delivery a handler runs for.
type deliveryKey struct{}

// deliveryLog is what log records made in a handler's context add.
type deliveryLog struct {
	subscription  string
	eventID       string
	correlationID string
}

// withDelivery returns ctx carrying what identifies d in log records.
func withDelivery(ctx context.Context, d *worker.Delivery) context.Context {
	return context.WithValue(ctx, deliveryKey{}, deliveryLog{subscription: d.Subscription,
		eventID: d.Event.ID.String(), correlationID: d.Event.Metadata.CorrelationID})
}

// contextHandler adds the context's trace and delivery to every record.
type contextHandler struct{ slog.Handler }

// ContextLogger wraps a logger's handler so that records made with a
// handler's context carry the trace, span, subscription, event and
// correlation ids. Wrapping twice wraps once.
func ContextLogger(l *slog.Logger) *slog.Logger {
	if _, done := l.Handler().(contextHandler); done {
		return l
	}
	return slog.New(contextHandler{l.Handler()})
}

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	if d, ok := ctx.Value(deliveryKey{}).(deliveryLog); ok {
		r.AddAttrs(slog.String("subscription", d.subscription), slog.String("event_id", d.eventID))
		if d.correlationID != "" {
			r.AddAttrs(slog.String("correlation_id", d.correlationID))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return contextHandler{h.Handler.WithAttrs(attrs)}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{h.Handler.WithGroup(name)}
}

// NewLogger returns a ContextLogger writing to w at level (debug, info,
// warn or error) in format (text or json; "" is text).
func NewLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return ContextLogger(slog.New(slog.NewJSONHandler(w, opts))), nil
	case "text", "":
		return ContextLogger(slog.New(slog.NewTextHandler(w, opts))), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", format)
}
