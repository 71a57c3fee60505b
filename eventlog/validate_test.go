package eventlog

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

func FuzzValidateJSON(f *testing.F) {
	for _, s := range []string{`{}`, `null`, `"\u0000"`, `"\ud800"`, `"\ud83d\ude00"`, `{"a":[1,2,{"b":"\\u0000"}]}`, `"\udc00\ud800"`, `[`, ``, "\"\xff\"", "{\"\xc3\":1}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := ValidateJSON(b)
		if err == nil && !json.Valid(b) {
			t.Fatalf("accepted invalid JSON %q", b)
		}
		if err != nil {
			return
		}
		if !utf8.Valid(b) {
			t.Fatalf("accepted invalid UTF-8 %q, which PostgreSQL refuses", b)
		}
		// What is accepted decodes to strings without NUL, as jsonb requires.
		var v any
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber() // jsonb's numeric holds numbers float64 cannot
		if dec.Decode(&v) != nil {
			t.Fatalf("accepted %q but it does not decode", b)
		}
		var walk func(any)
		walk = func(v any) {
			switch x := v.(type) {
			case string:
				for _, r := range x {
					if r == 0 {
						t.Fatalf("accepted NUL in %q", b)
					}
				}
				_ = utf8.ValidString(x)
			case []any:
				for _, e := range x {
					walk(e)
				}
			case map[string]any:
				for k, e := range x {
					walk(k)
					walk(e)
				}
			}
		}
		walk(v)
	})
}

func TestPositionOrderAndText(t *testing.T) {
	a, b, c := Position{TxID: 5, Seq: 9}, Position{TxID: 6, Seq: 1}, Position{TxID: 6, Seq: 2}
	if !a.Before(b) || !b.Before(c) || c.Before(a) || a.Compare(a) != 0 {
		t.Fatal("Compare")
	}
	for _, bad := range []string{"", "1", "x/1", "1/x", "1/-1"} {
		if _, err := ParsePosition(bad); err == nil {
			t.Errorf("ParsePosition(%q) accepted", bad)
		}
	}
	txt, _ := c.MarshalText()
	var back Position
	if err := back.UnmarshalText(txt); err != nil || back != c {
		t.Fatalf("round trip %s → %v, %v", txt, back, err)
	}
}

func TestExpectedVersion(t *testing.T) {
	cases := []struct {
		e       ExpectedVersion
		current int64
		ok      bool
	}{
		{Any, 0, true}, {Any, 5, true}, {NoStream, 0, true}, {NoStream, 1, false},
		{StreamExists, 0, false}, {StreamExists, 3, true}, {Exactly(3), 3, true}, {Exactly(3), 4, false},
	}
	for _, c := range cases {
		if got := c.e.Satisfied(c.current); got != c.ok {
			t.Errorf("%s satisfied by %d = %v", c.e, c.current, got)
		}
	}
	if ExpectedVersion(-3).Valid() || !Exactly(0).Valid() {
		t.Error("Valid")
	}
}

// FuzzJSONOK holds the one-pass check to the step-by-step one it stands in
// front of.
func FuzzJSONOK(f *testing.F) {
	for _, s := range []string{`{}`, `null`, `"\u0000"`, `"\ud800"`, `"\ud83d\ude00"`, `{"a":[1,2,{"b":"\\u0000"}]}`,
		`"\udc00\ud800"`, `[`, ``, "\"\xff\"", "{\"\xc3\":1}", `-0.5e+7`, `01`, `1.`, `[1,]`, `{"a":1,}`, `{"a" : [ true , false , null ] }`,
		`"\ud800\n"`, `"\ud800"x`, " \t\r\n[]\n", `"\/\b\f\n\r\t\"\\"`, `"\x"`, `"\u12"`, "\"\x7f\"", "\"\x1f\"", `[[[[]]]]`, `{"a":{"b":{}}}`, `1 2`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := jsonOK(b), explainJSON(b) == nil; got != want {
			t.Fatalf("jsonOK(%q) = %v, the step-by-step checks say %v", b, got, want)
		}
	})
}

func TestJSONOKDepth(t *testing.T) {
	for _, depth := range []int{maxJSONDepth, maxJSONDepth + 1} {
		b := append(bytes.Repeat([]byte("["), depth), bytes.Repeat([]byte("]"), depth)...)
		if got, want := jsonOK(b), json.Valid(b); got != want {
			t.Fatalf("depth %d: jsonOK %v, encoding/json %v", depth, got, want)
		}
	}
}

// FuzzEncodeMetadata holds the metadata encoder to json.Marshal, byte for
// byte, and to the refusal of NUL that validating json.Marshal's output
// gave.
func FuzzEncodeMetadata(f *testing.F) {
	f.Add("corr-1", "", "00-abc-def-01", "", "k", "v", "", "")
	f.Add("<a&b>", "x\"y\\z", "\u2028\u2029", "\b\f\n\r\t\x01\x1f\x7f", "ä", "日本", "k\x00", "")
	f.Fuzz(func(t *testing.T, corr, cause, tp, ts, k1, v1, k2, v2 string) {
		m := Metadata{CorrelationID: corr, CausationID: cause, TraceParent: tp, TraceState: ts}
		if k1 != "" || k2 != "" {
			m.Headers = map[string]string{k1: v1, k2: v2}
		}
		if validateMetadataText(&m) != nil {
			return // refused before encoding
		}
		got, err := encodeMetadata(&m)
		want, werr := json.Marshal(m)
		if werr != nil {
			t.Fatal(werr)
		}
		if verr := ValidateJSON(want); verr != nil {
			if err == nil {
				t.Fatalf("encoded %q, which ValidateJSON refuses (%v)", got, verr)
			}
			return
		}
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("encodeMetadata: %q, %v; json.Marshal: %q", got, err, want)
		}
	})
}
