package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/eventlog"
)

// Delivery is one event handed to a handler.
type Delivery struct {
	Event        eventlog.Event
	Subscription string
	Partition    int
	Key          string
	// Attempt counts deliveries of this event to this handler, from 1.
	Attempt int
	// Tx is the transaction the checkpoint moves in (transactional mode on
	// PostgreSQL): write the read model through it for exactly-once effects.
	// It is nil in at-least-once mode and with the memory checkpoint store.
	Tx pgx.Tx
}

// IdempotencyKey identifies the event for side effects outside PostgreSQL:
// at-least-once delivery may repeat an event, never with another key.
func (d *Delivery) IdempotencyKey() string { return d.Event.ID.String() }

// Handler handles one event. Returning an error fails the delivery (see the
// subscription's retry policy); wrap it with Permanent to skip retries.
type Handler func(ctx context.Context, d *Delivery) error

// Typed returns a Handler that decodes the event's JSON data into a T once
// and passes it on. Data that does not decode is a permanent failure.
func Typed[T any](fn func(ctx context.Context, d *Delivery, v T) error) Handler {
	return func(ctx context.Context, d *Delivery) error {
		var v T
		if err := json.Unmarshal(d.Event.Data, &v); err != nil {
			return Permanent(fmt.Errorf("decode %s event %s into %T: %w", d.Event.Type, d.Event.ID, v, err))
		}
		return fn(ctx, d, v)
	}
}

// PermanentError marks a failure that retrying cannot fix (bad data,
// validation): the event is dead-lettered at once.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent marks err as permanent. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err was marked Permanent.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// PanicError is a handler panic, turned into a failure.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("handler panicked: %v", e.Value) }

// call runs the handler, turning a panic into a *PanicError.
func call(ctx context.Context, h Handler, d *Delivery) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return h(ctx, d)
}
