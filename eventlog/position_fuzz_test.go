package eventlog

import "testing"

// FuzzParsePosition: a stored checkpoint string either parses into a
// position that renders and parses back to itself, or is refused with an
// error; it never panics.
func FuzzParsePosition(f *testing.F) {
	for _, s := range []string{"0/0", "42/7", "18446744073709551615/9223372036854775807", "", "/", "1/", "/1", "-1/2", "1/-2", "1/2/3", "+1/+2", " 1/2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePosition(s)
		if err != nil {
			return
		}
		if p.Seq < 0 {
			t.Fatalf("%q parsed to a negative sequence: %+v", s, p)
		}
		q, err := ParsePosition(p.String())
		if err != nil || q != p {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", s, p, p.String(), q, err)
		}
		var r Position
		if err := r.UnmarshalText([]byte(s)); err != nil || r != p {
			t.Fatalf("UnmarshalText(%q) = %+v, %v; ParsePosition gave %+v", s, r, err, p)
		}
	})
}
