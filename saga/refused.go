package saga

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/internal/pgtext"
	"github.com/causewayhq/causeway/worker/queue"
)

// ErrOutcomeRefused matches a *RefusedError.
var ErrOutcomeRefused = errors.New("saga: outcome refused")

// RefusedError is a Store's refusal of an attempt's outcome itself, as
// opposed to the database being away: an emitted event conflicts with its
// expected version or is invalid, an enqueued message is refused (unknown
// queue, invalid message), or the new state cannot be stored. The
// store wrote nothing. Recording the same outcome again would fail the same
// way, so the executor records the attempt as failed instead — a conflict
// as a retryable failure (the step runs again, on fresh state, under its
// retry policy), anything else as a permanent one (compensation starts).
type RefusedError struct {
	Err       error
	Permanent bool
}

func (e *RefusedError) Error() string {
	return "saga: outcome refused: " + e.Err.Error()
}

// Unwrap gives the cause (e.g. an eventlog.ErrWrongExpectedVersion).
func (e *RefusedError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrOutcomeRefused) true.
func (e *RefusedError) Is(target error) bool { return target == ErrOutcomeRefused }

// RefuseEmit classifies a store's error appending an emitted event: a
// *RefusedError for a refusal of the emit itself (a conflicting expected
// version, retryable; an invalid event or an id stored elsewhere,
// permanent), or nil for anything else (the database being away, an order
// conflict the whole transaction retries). For Store implementations.
func RefuseEmit(em Emit, err error) error {
	switch {
	case errors.Is(err, eventlog.ErrWrongExpectedVersion):
		return &RefusedError{Err: fmt.Errorf("emit to %q: %w", em.StreamID, err)}
	case errors.Is(err, eventlog.ErrInvalidEvent), errors.Is(err, eventlog.ErrDuplicateEventID):
		return &RefusedError{Err: fmt.Errorf("emit to %q: %w", em.StreamID, err), Permanent: true}
	}
	return nil
}

// RefuseEnqueue classifies a store's error enqueuing a step's messages: a
// permanent *RefusedError for a refusal of the messages themselves (an
// undeclared queue, an invalid message or a message id already stored), or
// nil for anything else (the database being away). For Store
// implementations.
func RefuseEnqueue(eq Enqueue, err error) error {
	if errors.Is(err, queue.ErrUnknownQueue) || errors.Is(err, queue.ErrInvalidMessage) {
		return &RefusedError{Err: fmt.Errorf("enqueue to %q: %w", eq.Queue, err), Permanent: true}
	}
	return nil
}

// CheckOutcome refuses, with a permanent *RefusedError, an outcome that no
// store can keep, before a Store's Record writes anything: a state jsonb
// would refuse (the executor's states are checked when encoded; this guards
// the Store contract, the same for every store), an emit with an invalid
// expected version, or an enqueue of messages the queue would refuse
// (queue.Prepare: the queue's name, payloads, headers, options) or that
// repeat a message id. For Store implementations.
func CheckOutcome(next Instance, fx Effects) error {
	if err := eventlog.ValidateJSON(next.State); err != nil {
		return &RefusedError{Err: fmt.Errorf("state cannot be stored: %w", err), Permanent: true}
	}
	for _, em := range fx.Emits {
		if !em.Expected.Valid() {
			return &RefusedError{Err: fmt.Errorf("emit to %q: invalid expected version %d", em.StreamID, int64(em.Expected)), Permanent: true}
		}
	}
	ids := map[uuid.UUID]bool{}
	for _, eq := range fx.Enqueues {
		if _, err := queue.Prepare(eq.Queue, eq.Messages); err != nil {
			return RefuseEnqueue(eq, err)
		}
		// Message ids are unique across queues; the stores would refuse a
		// repeat at different points (or not at all, within one batch).
		for _, m := range eq.Messages {
			if m.ID != uuid.Nil && ids[m.ID] {
				return RefuseEnqueue(eq, fmt.Errorf("%w: message id %s enqueued twice by one step", queue.ErrInvalidMessage, m.ID))
			}
			ids[m.ID] = true
		}
	}
	return nil
}

// MaxErrorText bounds the error text stored with an attempt (last error,
// history): a panic's value and stack are kept, a runaway message is cut.
const MaxErrorText = 16 << 10

// StorableOutcome makes the text of an outcome that came from a step (its
// last error, the history entry's error and step) storable as PostgreSQL
// text: NUL bytes and invalid UTF-8 replaced, errors cut at MaxErrorText.
// Every Store stores it so, so they all show the same text. For Store
// implementations.
func StorableOutcome(next Instance, h HistoryEntry) (Instance, HistoryEntry) {
	next.LastError, h.Error, h.Step = storableText(next.LastError), storableText(h.Error), pgtext.Sanitize(h.Step)
	return next, h
}

func storableText(s string) string { return pgtext.Truncate(pgtext.Sanitize(s), MaxErrorText) }

// MaxCorrelationIDLen bounds a correlation id: it is a key of a unique
// index, whose entries PostgreSQL limits to about 2.7 kB.
const MaxCorrelationIDLen = 1024

// ErrInvalidCorrelationID: a start or a wait's correlate function returned
// a correlation id that cannot be stored.
var ErrInvalidCorrelationID = errors.New("saga: invalid correlation id")

// validateText checks that s can be stored as PostgreSQL text, as it is.
func validateText(s string) error {
	switch {
	case !utf8.ValidString(s):
		return errors.New("not valid UTF-8")
	case strings.IndexByte(s, 0) >= 0:
		return errors.New("contains a NUL byte")
	}
	return nil
}

func validateCorrelationID(corr string) error {
	if len(corr) > MaxCorrelationIDLen {
		return fmt.Errorf("%w: %d bytes (at most %d)", ErrInvalidCorrelationID, len(corr), MaxCorrelationIDLen)
	}
	if err := validateText(corr); err != nil {
		return fmt.Errorf("%w %q: %w", ErrInvalidCorrelationID, corr, err)
	}
	return nil
}
