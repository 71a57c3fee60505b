package eventlog

import "unicode/utf8"

// jsonOK reports, in one pass, whether ValidateJSON accepts b: one
// well-formed JSON value (RFC 8259, nesting at most maxJSONDepth, as
// encoding/json), valid UTF-8, and no \u0000 or unpaired UTF-16 surrogate
// escape. ValidateJSON runs it first and explains a refusal with its
// slower checks, one concern at a time; every append validates each event,
// and the three passes of those checks were a measurable part of an
// append's client CPU (issue 14). FuzzJSONOK holds the two to the same
// answers.
func jsonOK(b []byte) bool {
	var (
		stack []byte // open containers: '{' or '['
		i     int
	)
	ws := func() {
		for i < len(b) {
			switch b[i] {
			case ' ', '\t', '\n', '\r':
				i++
			default:
				return
			}
		}
	}
value:
	ws()
	if i >= len(b) {
		return false
	}
	switch c := b[i]; {
	case c == '{' || c == '[':
		if len(stack) >= maxJSONDepth {
			return false
		}
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		i++
		ws()
		if i < len(b) && b[i] == closing {
			i++
			goto next
		}
		stack = append(stack, c)
		if c == '{' {
			goto key
		}
		goto value
	case c == '"':
		if i = jsonString(b, i); i < 0 {
			return false
		}
	case c == '-' || c >= '0' && c <= '9':
		if i = jsonNumber(b, i); i < 0 {
			return false
		}
	case c == 't':
		if !jsonLiteral(b, i, "true") {
			return false
		}
		i += 4
	case c == 'f':
		if !jsonLiteral(b, i, "false") {
			return false
		}
		i += 5
	case c == 'n':
		if !jsonLiteral(b, i, "null") {
			return false
		}
		i += 4
	default:
		return false
	}
next:
	ws()
	if len(stack) == 0 {
		return i == len(b)
	}
	if i >= len(b) {
		return false
	}
	switch top := stack[len(stack)-1]; {
	case b[i] == ',':
		i++
		if top == '{' {
			ws()
			goto key
		}
		goto value
	case top == '{' && b[i] == '}', top == '[' && b[i] == ']':
		i++
		stack = stack[:len(stack)-1]
		goto next
	}
	return false
key:
	if i >= len(b) || b[i] != '"' {
		return false
	}
	if i = jsonString(b, i); i < 0 {
		return false
	}
	ws()
	if i >= len(b) || b[i] != ':' {
		return false
	}
	i++
	goto value
}

// maxJSONDepth is encoding/json's nesting limit.
const maxJSONDepth = 10000

// jsonString scans the string starting at b[i] (a quote) and returns the
// index after it, or -1.
func jsonString(b []byte, i int) int {
	i++
	highPending := false // a high surrogate escape must be followed by a low one
	for i < len(b) {
		c := b[i]
		switch {
		case c == '\\':
			if i+1 >= len(b) {
				return -1
			}
			if b[i+1] != 'u' {
				if highPending || !isJSONEscape(b[i+1]) {
					return -1
				}
				i += 2
				continue
			}
			if i+6 > len(b) {
				return -1
			}
			var r rune
			for _, h := range b[i+2 : i+6] {
				v := hexDigit(h)
				if v < 0 {
					return -1
				}
				r = r<<4 | rune(v)
			}
			i += 6
			switch {
			case r == 0:
				return -1
			case r >= 0xD800 && r <= 0xDBFF:
				if highPending {
					return -1
				}
				highPending = true
			case r >= 0xDC00 && r <= 0xDFFF:
				if !highPending {
					return -1
				}
				highPending = false
			default:
				if highPending {
					return -1
				}
			}
			continue
		case highPending:
			return -1
		case c == '"':
			return i + 1
		case c < 0x20:
			return -1
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return -1
			}
			i += size
		}
	}
	return -1
}

func isJSONEscape(c byte) bool {
	switch c {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return true
	}
	return false
}

func hexDigit(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// jsonNumber scans the number starting at b[i] and returns the index after
// it, or -1.
func jsonNumber(b []byte, i int) int {
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return -1
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return -1
		}
	}
	return i
}

func jsonLiteral(b []byte, i int, lit string) bool {
	return len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit
}
