package saga

import (
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/google/uuid"
)

// Status is where an instance stands.
type Status string

// Statuses.
const (
	StatusRunning      Status = "running"
	StatusWaiting      Status = "waiting"
	StatusCompensating Status = "compensating"
	StatusCompleted    Status = "completed"
	StatusCompensated  Status = "compensated"
	StatusFailed       Status = "failed"
	StatusCancelled    Status = "cancelled"
)

// Statuses lists every status, in the order a saga passes through them.
var Statuses = []Status{StatusRunning, StatusWaiting, StatusCompensating, StatusCompleted,
	StatusCompensated, StatusFailed, StatusCancelled}

// Valid reports whether s is one of Statuses.
func (s Status) Valid() bool { return slices.Contains(Statuses, s) }

// Terminal reports whether the status is final.
func (s Status) Terminal() bool {
	return s == StatusCompleted || s == StatusCompensated || s == StatusCancelled
}

// Instance is one saga as stored.
type Instance struct {
	ID            uuid.UUID
	Type          string
	CorrelationID string
	State         json.RawMessage
	Status        Status
	// Step is the index of the next step to run (running, waiting) or of
	// the next compensation to run (compensating, failed).
	Step int
	// Attempts counts failed attempts of the current step.
	Attempts      int
	NextAttemptAt time.Time
	WaitDeadline  time.Time // zero unless waiting
	// WaitEvent is the event type a waiting instance waits for (empty
	// otherwise). Stores use it to wake a parked instance only for its
	// event, and to make it due at once when that event was filed before
	// it parked.
	WaitEvent      string
	LeaseOwner     string
	LeaseExpiresAt time.Time
	// Version increments on every change; claims and records are fenced
	// by it.
	Version   int64
	LastError string
	StartedBy uuid.UUID // the starting event
	// TraceParent and TraceState are the W3C trace context of the starting
	// event (empty when it had none): the spans of the saga's steps belong
	// to that trace.
	TraceParent string
	TraceState  string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Phase of a history entry.
type Phase string

// Phases.
const (
	PhaseAction       Phase = "action"
	PhaseCompensation Phase = "compensation"
	PhaseWait         Phase = "wait"
	PhaseOperator     Phase = "operator"
)

// Outcome of an attempt.
type Outcome string

// Outcomes.
const (
	OutcomeCompleted Outcome = "completed"
	OutcomeFailed    Outcome = "failed"
	OutcomeTimedOut  Outcome = "timed-out"
	OutcomeReceived  Outcome = "event-received"
)

// HistoryEntry is one attempt of one step (or an operator action).
type HistoryEntry struct {
	Seq     int64
	Step    string
	Phase   Phase
	Attempt int
	Outcome Outcome
	Error   string
	At      time.Time
}

var (
	// ErrNotFound: no such instance.
	ErrNotFound = errors.New("saga: not found")
	// ErrLeaseLost: the instance changed since it was claimed (its lease
	// expired and another executor took it, or an operator acted); the
	// outcome was not recorded.
	ErrLeaseLost = errors.New("saga: lease lost; outcome not recorded")
	// ErrInvalidState: an operator action that does not apply to the
	// instance's status.
	ErrInvalidState = errors.New("saga: action does not apply in this status")
)
