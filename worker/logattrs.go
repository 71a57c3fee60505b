package worker

import "strings"

// eventAttrs are the log attributes that identify a delivery: where it was
// handled, which event, and the correlation and trace ids it carries, so a
// failure can be found from the request that caused it.
func eventAttrs(p *partition, d delivery) []any {
	attrs := []any{"subscription", p.g.sub.Name, "partition", p.lease.Partition, "key", d.key,
		"event_id", d.event.ID, "type", d.event.Type, "stream", d.event.StreamID, "version", d.event.Version}
	if c := d.event.Metadata.CorrelationID; c != "" {
		attrs = append(attrs, "correlation_id", c)
	}
	if t := traceID(d.event.Metadata.TraceParent); t != "" {
		attrs = append(attrs, "trace_id", t)
	}
	return attrs
}

// traceID returns the trace id of a W3C traceparent
// ("00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>"), or "" if it
// has not that shape.
func traceID(traceparent string) string {
	parts := strings.Split(traceparent, "-")
	if len(parts) < 4 || len(parts[0]) != 2 || len(parts[1]) != 32 || strings.Trim(parts[1], "0123456789abcdef") != "" ||
		parts[1] == strings.Repeat("0", 32) {
		return ""
	}
	return parts[1]
}
