package eventlog

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Event is one recorded event, as read back from the log.
type Event struct {
	ID         uuid.UUID
	StreamID   string
	Version    int64 // position in its stream: dense, from 1
	Type       string
	Data       json.RawMessage
	Metadata   Metadata
	RecordedAt time.Time
	Position   Position // place in the global log

	// upcastErr is set by an UpcastStore on an event its upcasters failed
	// on: it is returned as stored, and consumers fail it permanently.
	upcastErr error
}

// UpcastErr is the error an UpcastStore's upcasters returned for this event
// (nil for events read otherwise). Such an event keeps its stored type and
// data; subscriptions dead-letter it, folds fail on it.
func (e Event) UpcastErr() error { return e.upcastErr }

// Category is the part of the stream id before the first '-'.
func (e Event) Category() string { return Category(e.StreamID) }

// Category returns the category of a stream id: the part before the first '-'
// ("order-42" → "order"), or the whole id when it has no '-'.
func Category(streamID string) string {
	if i := strings.IndexByte(streamID, '-'); i >= 0 {
		return streamID[:i]
	}
	return streamID
}

// Metadata travels with an event. CorrelationID ties together everything one
// business request caused; CausationID names the event or command that caused
// this one; TraceParent/TraceState carry W3C trace context so handlers can
// continue the appender's trace.
type Metadata struct {
	CorrelationID string            `json:"correlation_id,omitempty"`
	CausationID   string            `json:"causation_id,omitempty"`
	TraceParent   string            `json:"traceparent,omitempty"`
	TraceState    string            `json:"tracestate,omitempty"`
	Headers       map[string]string `json:"headers,omitempty"`
}

// EventData is an event to append. ID may be left zero, in which case a
// random UUID is assigned; supplying it makes a retried append idempotent.
type EventData struct {
	ID       uuid.UUID
	Type     string
	Data     json.RawMessage
	Metadata Metadata
}

// AppendResult reports where an append landed.
type AppendResult struct {
	// NextExpectedVersion is the stream's version after the append; pass it as
	// the expected version of the next append to the same stream.
	NextExpectedVersion int64
	// Positions holds the global position of each appended event, in order.
	Positions []Position
	// IDs holds the id of each appended event (generated ones included).
	IDs []uuid.UUID
	// Duplicate is true when every event id was already stored in this stream
	// (a retried append); nothing new was written.
	Duplicate bool
}
