package eventlog

import (
	"encoding/json"
	"fmt"
)

// Envelope is a stored event with its data decoded into a T: handlers get
// the value and the event's metadata (ID, StreamID, Version, Position,
// RecordedAt, Metadata, Type) in one argument. Data shadows the raw bytes,
// which stay reachable as e.Event.Data.
type Envelope[T any] struct {
	Event
	Data T
}

// Decode decodes e's data into a T. It does not compare e.Type with the
// name T declares: callers dispatch by type before decoding.
func Decode[T any](e Event) (Envelope[T], error) {
	env := Envelope[T]{Event: e}
	if err := json.Unmarshal(e.Data, &env.Data); err != nil {
		return env, fmt.Errorf("eventlog: decode %s event %s into %T: %w", e.Type, e.ID, env.Data, err)
	}
	return env, nil
}
