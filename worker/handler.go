package worker

import (
	"context"
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

	// afterCommit collects AfterCommit's functions for the transaction
	// Tx (nil without one).
	afterCommit *afterCommit
}

// AfterCommit registers fn to run once the transaction d.Tx commits, on
// the partition's goroutine, before the next unit of work begins; if that
// transaction rolls back (a later event of its batch failed, the database
// went away), fn never runs. It reports false, registering nothing, when
// the delivery has no transaction (at-least-once mode, the memory
// checkpoint store). A saga's subscription uses it to hand an instance it
// started to the local executor only once the instance exists.
func (d *Delivery) AfterCommit(fn func()) bool {
	if d.afterCommit == nil || d.Tx == nil {
		return false
	}
	d.afterCommit.fns = append(d.afterCommit.fns, fn)
	return true
}

// afterCommit is a partition's list of AfterCommit functions, kept for the
// unit of work they were registered in: commitTx runs them only when it
// commits that one.
type afterCommit struct {
	tx  any // the checkpoint.Tx they belong to
	fns []func()
}

// begin starts a list for tx, dropping the functions of a unit of work that
// did not commit.
func (a *afterCommit) begin(tx any) {
	clear(a.fns)
	a.tx, a.fns = tx, a.fns[:0]
}

// committed runs the functions if tx is the unit of work they belong to.
func (a *afterCommit) committed(tx any) {
	if a.tx != tx {
		return
	}
	fns := a.fns
	a.tx, a.fns = nil, fns[:0]
	for i, fn := range fns {
		fns[i] = nil
		fn()
	}
}

// IdempotencyKey identifies the event for side effects outside PostgreSQL:
// at-least-once delivery may repeat an event, never with another key.
func (d *Delivery) IdempotencyKey() string { return d.Event.ID.String() }

// Handler handles one event. Returning an error fails the delivery (see the
// subscription's retry policy); wrap it with Permanent to skip retries.
type Handler func(ctx context.Context, d *Delivery) error

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

// call runs the handler, turning a panic into a *PanicError. An event its
// upcasters failed on (see eventlog.UpcastStore) fails permanently without
// reaching the handler.
func call(ctx context.Context, h Handler, d *Delivery) (err error) {
	if uerr := d.Event.UpcastErr(); uerr != nil {
		return Permanent(uerr)
	}
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return h(ctx, d)
}
