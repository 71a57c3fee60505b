// Package pgtext makes arbitrary Go strings storable in PostgreSQL text
// columns.
//
// PostgreSQL refuses two things in text: the NUL byte (no text type can hold
// it) and bytes that are not valid in the database encoding (UTF-8 here). An
// error message or a panic value can contain either, and a runtime that
// cannot record a failure stalls on it (the insert fails, is retried, fails
// again). Everything Causeway stores that it did not validate itself —
// handler errors, panic values, step errors — goes through Sanitize first.
package pgtext

import (
	"strings"
	"unicode/utf8"
)

// Sanitize returns s with every NUL byte replaced by the two characters
// `\0` and every invalid UTF-8 sequence by U+FFFD, so PostgreSQL accepts it.
// A string that needs neither is returned as it is.
func Sanitize(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.ReplaceAll(s, "\x00", `\0`)
}

// Truncate returns at most max bytes of s without splitting a UTF-8
// sequence, marking a cut with "…".
func Truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const mark = "…"
	cut := max - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
