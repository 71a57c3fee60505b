package queue

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/eventlog"
)

// Outgoing is a message to enqueue. Build it with New.
type Outgoing struct {
	// ID is the message's id; zero means the store picks one.
	ID       uuid.UUID
	Payload  json.RawMessage
	Headers  map[string]string
	Priority int
	// Delay and NotBefore hold the message back: it is not delivered
	// before the later of now+Delay and NotBefore.
	Delay     time.Duration
	NotBefore time.Time
	// DedupKey, if set, enqueues the message only if no message of the
	// queue had this key within the last DedupWindow.
	DedupKey    string
	DedupWindow time.Duration
}

// EnqueueOption sets part of an Outgoing message.
type EnqueueOption func(*Outgoing)

// New returns a message with payload and options.
func New(payload json.RawMessage, opts ...EnqueueOption) Outgoing {
	o := Outgoing{Payload: payload}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// WithID sets the message's id.
func WithID(id uuid.UUID) EnqueueOption { return func(o *Outgoing) { o.ID = id } }

// Header sets one header.
func Header(k, v string) EnqueueOption {
	return func(o *Outgoing) {
		if o.Headers == nil {
			o.Headers = map[string]string{}
		}
		o.Headers[k] = v
	}
}

// Priority sets the priority: higher is delivered first.
func Priority(p int) EnqueueOption { return func(o *Outgoing) { o.Priority = p } }

// Delay holds the message back for d.
func Delay(d time.Duration) EnqueueOption { return func(o *Outgoing) { o.Delay = d } }

// NotBefore holds the message back until t.
func NotBefore(t time.Time) EnqueueOption { return func(o *Outgoing) { o.NotBefore = t } }

// Dedup enqueues the message only if no message of the queue had key within
// the last window (0: DefaultDedupWindow).
func Dedup(key string, window time.Duration) EnqueueOption {
	return func(o *Outgoing) { o.DedupKey, o.DedupWindow = key, window }
}

const (
	maxNameLen     = 128
	maxDedupKeyLen = 512
)

// ValidateName checks a queue name with the rules of an event type: 1–128
// characters, a letter first, then letters, digits and _ . : / -.
func ValidateName(name string) error {
	if len(name) > maxNameLen {
		return fmt.Errorf("%w: queue name longer than %d bytes", ErrInvalidMessage, maxNameLen)
	}
	if err := eventlog.ValidateEventType(name); err != nil {
		return fmt.Errorf("%w: queue name: %v", ErrInvalidMessage, err)
	}
	return nil
}

// Prepared is an Outgoing message that passed validation.
type Prepared struct {
	Outgoing
	HeadersJSON []byte
}

// Prepare validates messages for queue and fills in ids and dedup windows.
// Nothing should be written when it fails.
func Prepare(queue string, msgs []Outgoing) ([]Prepared, error) {
	if err := ValidateName(queue); err != nil {
		return nil, err
	}
	out := make([]Prepared, len(msgs))
	for i, m := range msgs {
		bad := func(format string, a ...any) error {
			return fmt.Errorf("%w: queue %q, message %d: %s", ErrInvalidMessage, queue, i, fmt.Sprintf(format, a...))
		}
		n := len(m.Payload)
		for k, v := range m.Headers {
			n += len(k) + len(v)
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				return nil, bad("header %q is not valid UTF-8", k)
			}
		}
		if n > MaxPayload {
			return nil, bad("%d bytes of payload and headers, limit %d", n, MaxPayload)
		}
		if err := eventlog.ValidateJSON(m.Payload); err != nil {
			return nil, bad("payload: %v", err)
		}
		h, err := json.Marshal(m.Headers)
		if err != nil {
			return nil, bad("headers: %v", err)
		}
		if err := eventlog.ValidateJSON(h); err != nil {
			return nil, bad("headers: %v", err)
		}
		if m.Delay < 0 {
			return nil, bad("negative delay")
		}
		if m.Priority < math.MinInt32 || m.Priority > math.MaxInt32 {
			return nil, bad("priority %d out of the 32-bit range", m.Priority)
		}
		if len(m.DedupKey) > maxDedupKeyLen || !utf8.ValidString(m.DedupKey) || containsNUL(m.DedupKey) {
			return nil, bad("dedup key must be valid UTF-8 without NUL, at most %d bytes", maxDedupKeyLen)
		}
		if m.DedupWindow < 0 {
			return nil, bad("negative dedup window")
		}
		if m.DedupKey != "" && m.DedupWindow == 0 {
			m.DedupWindow = DefaultDedupWindow
		}
		if m.ID == uuid.Nil {
			m.ID = uuid.New()
		}
		out[i] = Prepared{Outgoing: m, HeadersJSON: h}
	}
	return out, nil
}

func containsNUL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return true
		}
	}
	return false
}
