package eventlog

import (
	"errors"
	"fmt"
)

var (
	// ErrWrongExpectedVersion matches every optimistic-concurrency conflict;
	// errors.As with *VersionConflictError gives the details.
	ErrWrongExpectedVersion = errors.New("eventlog: wrong expected version")

	// ErrAppendOrderConflict means the append would have put a stream's events
	// out of global order: the appending transaction obtained its id before a
	// later writer of the stream committed. Nothing was written by this append;
	// retrying the whole transaction succeeds. IsRetryable reports true.
	ErrAppendOrderConflict = errors.New("eventlog: append order conflict (retry the transaction)")

	// ErrInvalidEvent matches every refusal of bad input; errors.As with
	// *ValidationError tells which event and why. Nothing was written.
	ErrInvalidEvent = errors.New("eventlog: invalid event")

	// Specific validation failures; each also matches ErrInvalidEvent.
	ErrInvalidStreamID  = errors.New("invalid stream id")
	ErrInvalidEventType = errors.New("invalid event type")
	ErrInvalidData      = errors.New("invalid JSON")
	ErrPayloadTooLarge  = errors.New("payload too large")
	ErrNoEvents         = errors.New("no events to append")

	// ErrDuplicateEventID means an event id given to Append is already stored
	// elsewhere (another stream, or only some of the batch's ids). A retry of
	// an append that fully succeeded is not an error: it reports Duplicate.
	ErrDuplicateEventID = errors.New("eventlog: event id already stored elsewhere")

	// ErrClosed is returned by a store used after Close.
	ErrClosed = errors.New("eventlog: store closed")
)

// VersionConflictError reports an expected-version mismatch.
type VersionConflictError struct {
	StreamID string
	Expected ExpectedVersion
	Actual   int64
}

func (e *VersionConflictError) Error() string {
	return fmt.Sprintf("eventlog: stream %q: expected version %s, actual %d", e.StreamID, e.Expected, e.Actual)
}

// Is makes errors.Is(err, ErrWrongExpectedVersion) true.
func (e *VersionConflictError) Is(target error) bool { return target == ErrWrongExpectedVersion }

// ValidationError is a refusal of bad input.
type ValidationError struct {
	StreamID string
	Index    int    // index of the offending event in the append, -1 for the stream id
	Reason   string // human-readable detail
	Err      error  // ErrInvalidStreamID, ErrInvalidEventType, ErrInvalidData, ErrPayloadTooLarge or ErrNoEvents
}

func (e *ValidationError) Error() string {
	if e.Index < 0 {
		return fmt.Sprintf("eventlog: invalid event: stream %q: %v: %s", e.StreamID, e.Err, e.Reason)
	}
	return fmt.Sprintf("eventlog: invalid event: stream %q event #%d: %v: %s", e.StreamID, e.Index, e.Err, e.Reason)
}

// Unwrap lets errors.Is match both ErrInvalidEvent and the specific cause.
func (e *ValidationError) Unwrap() []error { return []error{ErrInvalidEvent, e.Err} }

// IsRetryable reports whether err is a transient conflict that succeeds when
// the whole operation (the whole transaction, for appends inside one) is
// retried: ErrAppendOrderConflict, or a store's serialization failure or
// deadlock, which stores wrap with ErrAppendOrderConflict.
func IsRetryable(err error) bool { return errors.Is(err, ErrAppendOrderConflict) }
