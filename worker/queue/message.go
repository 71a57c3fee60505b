package queue

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// Message is a stored message.
type Message struct {
	ID       uuid.UUID
	Queue    string
	Payload  json.RawMessage
	Headers  map[string]string
	Priority int
	// Attempts counts deliveries so far (Dequeue increments it).
	Attempts   int
	EnqueuedAt time.Time
	// AvailableAt is when the message may next be delivered: its not-before
	// time, a nack's retry time, or the end of its current visibility.
	AvailableAt time.Time
}

// Receipt names one delivery of a message. It is opaque; only the delivery
// it came with can be acked, nacked or extended with it.
type Receipt string

// Delivery is a message handed to a consumer: it is invisible to other
// consumers until VisibleUntil, unless acked, nacked or extended first.
type Delivery struct {
	Message
	Receipt      Receipt
	VisibleUntil time.Time
}

// DeadLetter is a message that used up its attempts.
type DeadLetter struct {
	Message
	LastError string
	DeadAt    time.Time
}

// Enqueued reports what Enqueue did with one message.
type Enqueued struct {
	ID uuid.UUID
	// Duplicate: a message with the same deduplication key was enqueued
	// within its window; nothing new was stored and ID is that message's.
	Duplicate bool
}

// Stats describes a queue's contents at one moment.
type Stats struct {
	// Depth counts messages not yet acked nor dead: ready, delayed and in
	// flight.
	Depth int64
	// Ready counts messages deliverable now.
	Ready int64
	// InFlight counts messages held by a consumer (visibility not run out).
	InFlight int64
	// Dead counts dead letters.
	Dead int64
	// OldestReadyAge is how long the oldest ready message has been ready
	// (0 when none is).
	OldestReadyAge time.Duration
}
