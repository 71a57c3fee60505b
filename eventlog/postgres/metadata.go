package postgres

import (
	"encoding/json"
	"strings"

	"github.com/causewayhq/causeway/eventlog"
)

// decodeMetadata decodes an event's stored metadata into m. PostgreSQL
// prints jsonb normalized, and metadata is almost always an object of
// plain strings (correlation and causation ids, trace context) with perhaps
// an object of string headers: that shape is parsed by hand, without
// reflection, as catch-up reads decode it for every event. Anything else
// (escapes, non-ASCII text, null, other value types) goes to encoding/json,
// which also reports malformed input; the results are the same. The fast
// path's strings are substrings of s: they keep s alive, no copies made (the
// reader gives each event's text one allocation, see rowDecoder).
func decodeMetadata(s string, m *eventlog.Metadata) error {
	if parseMetadata(s, m) {
		return nil
	}
	*m = eventlog.Metadata{}
	return json.Unmarshal([]byte(s), m)
}

// parseMetadata is the fast path of decodeMetadata; it reports false when
// the input is not of the plain shape (m is then to be discarded).
func parseMetadata(s string, m *eventlog.Metadata) bool {
	p := metaParser{b: s}
	if !p.object(func(key string) bool {
		if key == "headers" {
			if p.peek() != '{' {
				return false
			}
			h := m.Headers // encoding/json adds to a map it already made
			if h == nil {
				h = map[string]string{}
			}
			ok := p.object(func(k string) bool {
				v, ok := p.str()
				h[k] = v
				return ok
			})
			m.Headers = h
			return ok
		}
		v, ok := p.str()
		switch key {
		case "correlation_id":
			m.CorrelationID = v
		case "causation_id":
			m.CausationID = v
		case "traceparent":
			m.TraceParent = v
		case "tracestate":
			m.TraceState = v
		default:
			// encoding/json matches field names case-insensitively.
			for _, f := range metadataKeys {
				if strings.EqualFold(key, f) {
					return false
				}
			}
		}
		return ok
	}) {
		return false
	}
	p.ws()
	return p.i == len(p.b)
}

var metadataKeys = []string{"correlation_id", "causation_id", "traceparent", "tracestate", "headers"}

type metaParser struct {
	b string
	i int
}

func (p *metaParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *metaParser) peek() byte {
	p.ws()
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

// object parses {"key": value, ...}, calling member with each key; member
// parses the value.
func (p *metaParser) object(member func(key string) bool) bool {
	if p.peek() != '{' {
		return false
	}
	p.i++
	if p.peek() == '}' {
		p.i++
		return true
	}
	for {
		k, ok := p.str()
		if !ok || p.peek() != ':' {
			return false
		}
		p.i++
		if !member(k) {
			return false
		}
		switch p.peek() {
		case ',':
			p.i++
		case '}':
			p.i++
			return true
		default:
			return false
		}
	}
}

// str parses a string of printable ASCII without escapes.
func (p *metaParser) str() (string, bool) {
	if p.peek() != '"' {
		return "", false
	}
	start := p.i + 1
	for j := start; j < len(p.b); j++ {
		switch c := p.b[j]; {
		case c == '"':
			p.i = j + 1
			return p.b[start:j], true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return "", false
		}
	}
	return "", false
}
