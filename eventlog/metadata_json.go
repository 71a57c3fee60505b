package eventlog

import (
	"errors"
	"slices"
	"strings"
	"unicode/utf8"
)

// encodeMetadata is json.Marshal(m), byte for byte (FuzzEncodeMetadata),
// without reflection: every event of every append encodes its metadata,
// and json.Marshal plus the validation of its output were a measurable part
// of an append's client CPU (issue 14). m's text must be valid UTF-8
// (validateMetadataText); a NUL, which PostgreSQL's jsonb cannot store, is
// refused.
func encodeMetadata(m *Metadata) ([]byte, error) {
	if m.hasNUL() {
		return nil, errNULInJSON
	}
	b := make([]byte, 0, 2+metadataTextLen(m)+len(m.Headers)*8+64)
	b = append(b, '{')
	first := true
	field := func(name, v string) {
		if v == "" {
			return
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, '"', ':')
		b = appendJSONString(b, v)
	}
	field("correlation_id", m.CorrelationID)
	field("causation_id", m.CausationID)
	field("traceparent", m.TraceParent)
	field("tracestate", m.TraceState)
	if len(m.Headers) > 0 {
		if !first {
			b = append(b, ',')
		}
		b = append(b, `"headers":{`...)
		keys := make([]string, 0, len(m.Headers))
		for k := range m.Headers {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSONString(b, m.Headers[k])
		}
		b = append(b, '}')
	}
	b = append(b, '}')
	return b, nil
}

// hasNUL reports whether any of m's text contains a NUL.
func (m *Metadata) hasNUL() bool {
	nul := func(s string) bool { return strings.IndexByte(s, 0) >= 0 }
	if nul(m.CorrelationID) || nul(m.CausationID) || nul(m.TraceParent) || nul(m.TraceState) {
		return true
	}
	for k, v := range m.Headers {
		if nul(k) || nul(v) {
			return true
		}
	}
	return false
}

var errNULInJSON = errors.New(`contains \u0000, which PostgreSQL jsonb cannot store`)

// appendJSONString appends s (valid UTF-8) quoted as encoding/json does,
// HTML-safe escapes included.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
