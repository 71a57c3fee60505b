package pgtext

import (
	"testing"
	"unicode/utf8"
)

func TestSanitize(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"a\x00b", `a\0b`},
		{"bad \xff\xfe end", "bad \uFFFD end"},
		{"\x00\xc3", `\0` + "\uFFFD"},
		{"héllo", "héllo"},
	} {
		if got := Sanitize(tc.in); got != tc.want {
			t.Errorf("Sanitize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTruncate(t *testing.T) {
	if got := Truncate("short", 10); got != "short" {
		t.Fatalf("got %q", got)
	}
	got := Truncate("ééééé", 6) // each é is 2 bytes; the mark is 3
	if !utf8.ValidString(got) || len(got) > 6 {
		t.Fatalf("Truncate split a rune or overran: %q (%d bytes)", got, len(got))
	}
}

func FuzzSanitize(f *testing.F) {
	f.Add("a\x00\xff")
	f.Fuzz(func(t *testing.T, s string) {
		out := Sanitize(s)
		if !utf8.ValidString(out) {
			t.Fatalf("invalid UTF-8 out of %q", s)
		}
		for i := 0; i < len(out); i++ {
			if out[i] == 0 {
				t.Fatalf("NUL out of %q", s)
			}
		}
	})
}
