package saga

import (
	"context"

	"go.opentelemetry.io/otel/trace"
)

// logAttrs are the attributes of an executor log record about inst: the
// saga, its correlation id and the trace id (of the attempt's span when
// one ran, else of the starting event), so a failure can be followed from
// the log to the business request and its trace.
func (x *Executor) logAttrs(inst Instance, span trace.SpanContext, kv ...any) []any {
	attrs := append(make([]any, 0, 8+len(kv)), "saga", inst.Type, "id", inst.ID, "correlation_id", inst.CorrelationID)
	if !span.HasTraceID() && inst.TraceParent != "" {
		span = trace.SpanContextFromContext(inst.withParent(context.Background()))
	}
	if span.HasTraceID() {
		attrs = append(attrs, "trace_id", span.TraceID().String())
	}
	return append(attrs, kv...)
}

// logOutcome logs a recorded outcome that an operator may need to see: a
// failed attempt, a compensation, the saga starting to compensate, ending
// compensated, or failing for good.
func (x *Executor) logOutcome(before, after Instance, h HistoryEntry, span trace.SpanContext) {
	if h.Step == "" {
		return
	}
	l := x.cfg.Logger
	switch {
	case h.Outcome == OutcomeFailed || h.Outcome == OutcomeTimedOut:
		kv := []any{"step", h.Step, "phase", h.Phase, "attempt", h.Attempt, "outcome", h.Outcome, "err", h.Error}
		if after.Status == before.Status && runnableStatus(after.Status) {
			kv = append(kv, "retry_at", after.NextAttemptAt)
		}
		l.Warn("causeway: saga step failed", x.logAttrs(after, span, kv...)...)
	case h.Phase == PhaseCompensation && h.Outcome == OutcomeCompleted:
		l.Info("causeway: saga step compensated", x.logAttrs(after, span, "step", h.Step, "attempt", h.Attempt)...)
	}
	if after.Status == before.Status {
		return
	}
	switch after.Status {
	case StatusCompensating:
		l.Warn("causeway: saga compensating", x.logAttrs(after, span, "failed_step", h.Step, "err", h.Error)...)
	case StatusCompensated:
		l.Info("causeway: saga compensated", x.logAttrs(after, span)...)
	case StatusFailed:
		l.Error("causeway: saga failed; an operator must act", x.logAttrs(after, span, "step", h.Step, "err", h.Error)...)
	}
}
