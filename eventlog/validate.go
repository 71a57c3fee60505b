package eventlog

import (
	"encoding/json"
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// DefaultMaxPayload is the default limit on one event's data plus metadata.
const DefaultMaxPayload = 1 << 20

const (
	maxStreamIDLen  = 256
	maxEventTypeLen = 128
)

// ValidateStreamID checks a stream id: 1–256 bytes of valid UTF-8 without
// spaces or control characters, with a non-empty category (it may not start
// with '-').
func ValidateStreamID(id string) error {
	bad := func(reason string) error {
		return &ValidationError{StreamID: id, Index: -1, Reason: reason, Err: ErrInvalidStreamID}
	}
	switch {
	case id == "":
		return bad("empty")
	case len(id) > maxStreamIDLen:
		return bad(fmt.Sprintf("longer than %d bytes", maxStreamIDLen))
	case !utf8.ValidString(id):
		return bad("not valid UTF-8")
	case id[0] == '-':
		return bad("empty category (starts with '-')")
	}
	for _, r := range id {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar {
			return bad(fmt.Sprintf("contains %q", r))
		}
	}
	return nil
}

// ValidateEventType checks an event type: 1–128 characters, starting with a
// letter, then letters, digits and _ . : / -.
func ValidateEventType(t string) error {
	if t == "" {
		return fmt.Errorf("empty")
	}
	if len(t) > maxEventTypeLen {
		return fmt.Errorf("longer than %d bytes", maxEventTypeLen)
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if i == 0 && !letter {
			return fmt.Errorf("%q must start with a letter", t)
		}
		if !letter && !(c >= '0' && c <= '9') && c != '_' && c != '.' && c != ':' && c != '/' && c != '-' {
			return fmt.Errorf("%q contains %q (allowed: letters, digits, _ . : / -)", t, c)
		}
	}
	return nil
}

// ValidateJSON checks that b is JSON that PostgreSQL's jsonb accepts too:
// valid UTF-8, well-formed, and without \u0000 or unpaired UTF-16 surrogate
// escapes.
func ValidateJSON(b []byte) error {
	if jsonOK(b) {
		return nil
	}
	if err := explainJSON(b); err != nil {
		return err
	}
	return fmt.Errorf("not well-formed JSON") // jsonOK and explainJSON agree (FuzzJSONOK)
}

// explainJSON is ValidateJSON's refusal, one check at a time, or nil.
func explainJSON(b []byte) error {
	if len(b) == 0 {
		return fmt.Errorf("empty (use {} or null for no data)")
	}
	// encoding/json accepts invalid UTF-8 inside strings; PostgreSQL does not.
	if !utf8.Valid(b) {
		return fmt.Errorf("not valid UTF-8")
	}
	if !json.Valid(b) {
		return fmt.Errorf("not well-formed JSON")
	}
	// Escapes only occur inside strings of valid JSON, so a flat scan works.
	highPending := false
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			if highPending {
				return fmt.Errorf("unpaired UTF-16 surrogate escape")
			}
			continue
		}
		i++
		if b[i] != 'u' {
			if highPending {
				return fmt.Errorf("unpaired UTF-16 surrogate escape")
			}
			continue
		}
		var r rune
		for _, h := range b[i+1 : i+5] {
			r = r<<4 | rune(hexVal(h))
		}
		i += 4
		switch {
		case r == 0:
			return fmt.Errorf(`contains \u0000, which PostgreSQL jsonb cannot store`)
		case r >= 0xD800 && r <= 0xDBFF:
			if highPending {
				return fmt.Errorf("unpaired UTF-16 surrogate escape")
			}
			highPending = true
		case r >= 0xDC00 && r <= 0xDFFF:
			if !highPending {
				return fmt.Errorf("unpaired UTF-16 surrogate escape")
			}
			highPending = false
		default:
			if highPending {
				return fmt.Errorf("unpaired UTF-16 surrogate escape")
			}
		}
	}
	if highPending {
		return fmt.Errorf("unpaired UTF-16 surrogate escape")
	}
	return nil
}

func hexVal(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// PreparedEvent is an EventData that passed validation, with its metadata
// encoded. Stores build these with Prepare.
type PreparedEvent struct {
	EventData
	MetadataJSON []byte
}

// Prepare validates an append's input and encodes metadata. newID supplies
// ids for events that have none. It returns a *ValidationError (matching
// ErrInvalidEvent) for anything a store must refuse; nothing is written then.
func Prepare(streamID string, events []EventData, maxPayload int, newID func() uuid.UUID) ([]PreparedEvent, error) {
	if err := ValidateStreamID(streamID); err != nil {
		return nil, err
	}
	if len(events) == 0 {
		return nil, &ValidationError{StreamID: streamID, Index: -1, Reason: "an append needs at least one event", Err: ErrNoEvents}
	}
	if maxPayload <= 0 {
		maxPayload = DefaultMaxPayload
	}
	out := make([]PreparedEvent, len(events))
	var seen map[uuid.UUID]struct{} // ids of the append, when it has more than one event
	if len(events) > 1 {
		seen = make(map[uuid.UUID]struct{}, len(events))
	}
	for i, e := range events {
		bad := func(err error, reason string) error {
			return &ValidationError{StreamID: streamID, Index: i, Reason: reason, Err: err}
		}
		if err := ValidateEventType(e.Type); err != nil {
			return nil, bad(ErrInvalidEventType, err.Error())
		}
		// Size first, before anything is parsed or encoded, so an oversized
		// payload costs nothing to refuse. Encoded metadata is at least as
		// long as its text.
		if n := len(e.Data) + metadataTextLen(&e.Metadata); n > maxPayload {
			return nil, bad(ErrPayloadTooLarge, fmt.Sprintf("%d bytes or more of data and metadata, limit %d", n, maxPayload))
		}
		if err := validateMetadataText(&e.Metadata); err != nil {
			return nil, bad(ErrInvalidData, "metadata: "+err.Error())
		}
		if err := ValidateJSON(e.Data); err != nil {
			return nil, bad(ErrInvalidData, "data: "+err.Error())
		}
		meta, err := encodeMetadata(&e.Metadata)
		if err != nil {
			return nil, bad(ErrInvalidData, "metadata: "+err.Error())
		}
		if n := len(e.Data) + len(meta); n > maxPayload {
			return nil, bad(ErrPayloadTooLarge, fmt.Sprintf("%d bytes of data and metadata, limit %d", n, maxPayload))
		}
		if e.ID == uuid.Nil {
			e.ID = newID()
		}
		if seen != nil {
			if _, dup := seen[e.ID]; dup {
				return nil, bad(ErrInvalidData, fmt.Sprintf("event id %s appears twice in one append", e.ID))
			}
			seen[e.ID] = struct{}{}
		}
		out[i] = PreparedEvent{EventData: e, MetadataJSON: meta}
	}
	return out, nil
}

// metadataTextLen is the length of m's text, a lower bound of its encoding.
func metadataTextLen(m *Metadata) int {
	n := len(m.CorrelationID) + len(m.CausationID) + len(m.TraceParent) + len(m.TraceState)
	for k, v := range m.Headers {
		n += len(k) + len(v)
	}
	return n
}

// validateMetadataText refuses metadata text that is not valid UTF-8, which
// json.Marshal would silently turn into U+FFFD: a correlation id or header
// must come back as it was given, or not be stored.
func validateMetadataText(m *Metadata) error {
	for _, f := range []struct{ name, v string }{
		{"correlation_id", m.CorrelationID}, {"causation_id", m.CausationID},
		{"traceparent", m.TraceParent}, {"tracestate", m.TraceState},
	} {
		if !utf8.ValidString(f.v) {
			return fmt.Errorf("%s is not valid UTF-8", f.name)
		}
	}
	for k, v := range m.Headers {
		if !utf8.ValidString(k) {
			return fmt.Errorf("header name %q is not valid UTF-8", k)
		}
		if !utf8.ValidString(v) {
			return fmt.Errorf("header %q is not valid UTF-8", k)
		}
	}
	return nil
}
