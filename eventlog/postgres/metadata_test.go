package postgres

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/causewayhq/causeway/eventlog"
)

// decodeMetadata must agree with encoding/json on every input: the hand
// parser takes the plain shape, the rest falls back.
func FuzzDecodeMetadata(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"correlation_id": "c-1"}`,
		`{"tracestate": "a=b", "traceparent": "00-abc-def-01", "causation_id": "x", "correlation_id": "y"}`,
		`{"headers": {"a": "1", "b": ""}, "correlation_id": "c"}`, `{"headers": {}}`, `{"headers": null}`,
		`{"correlation_id": null}`, `{"correlation_id": "caf\u00e9"}`, `{"correlation_id": "é"}`, `{"other": 1}`,
		`{"other": "x", "correlation_id": "y"}`, `{"correlation_id": "a", "correlation_id": "b"}`, `{"headers": {"a": 1}}`,
		`{`, `{"a"}`, `{"a": "b",}`, `[]`, `null`, `{"a": "b"} x`, `  { "correlation_id" : "c" }  `, `{"correlation_id": 5}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want eventlog.Metadata
		werr := json.Unmarshal(b, &want)
		var got eventlog.Metadata
		gerr := decodeMetadata(string(b), &got)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%q: error %v, encoding/json %v", b, gerr, werr)
		}
		if werr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: got %+v, encoding/json %+v", b, got, want)
		}
	})
}

func BenchmarkDecodeMetadata(b *testing.B) {
	in := `{"causation_id": "5f0c6d3e-8a5b-4a4e-9d55-0a8d2b8c1f00", "correlation_id": "7a6b3c1d-2e4f-4a5b-8c9d-0e1f2a3b4c5d"}`
	inb := []byte(in)
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			var m eventlog.Metadata
			_ = decodeMetadata(in, &m)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			var m eventlog.Metadata
			_ = json.Unmarshal(inb, &m)
		}
	})
}
