package queue

import (
	"encoding/json"
	"fmt"
)

// Encode marshals v as a message's payload: the typed way to build an
// Outgoing message, whose consumer declares Handle[T] with the same T. A
// value that does not marshal is refused with ErrInvalidMessage.
func Encode(v any, opts ...EnqueueOption) (Outgoing, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return Outgoing{}, fmt.Errorf("%w: payload %T: %v", ErrInvalidMessage, v, err)
	}
	return New(b, opts...), nil
}
