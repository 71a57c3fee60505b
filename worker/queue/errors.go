package queue

import "errors"

var (
	// ErrStaleReceipt is returned by Ack, Nack, Extend, Release and Fail
	// (and AckMany lists as stale) a receipt that no longer names the
	// message's current delivery: the message was acked or nacked already,
	// went to the dead letters, or its visibility ran out and it was
	// delivered again (with a new receipt). Like an SQS receipt handle, a
	// receipt acts on one delivery only. The error does not quote the
	// receipt: whoever holds a receipt can settle its delivery, so it stays
	// out of logs.
	ErrStaleReceipt = errors.New("queue: stale receipt")

	// ErrUnknownQueue is returned for a queue that was never declared.
	ErrUnknownQueue = errors.New("queue: unknown queue")

	// ErrInvalidMessage matches every refusal of bad input: a bad queue
	// name, a payload that is not storable JSON or too large, invalid
	// headers or options. Nothing was written.
	ErrInvalidMessage = errors.New("queue: invalid message")

	// ErrNotFound is returned for a dead letter that does not exist (in
	// that queue).
	ErrNotFound = errors.New("queue: not found")
)
