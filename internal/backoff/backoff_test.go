package backoff

import (
	"slices"
	"testing"
	"time"
)

// TestDoublesToCapAndResets: 50ms, 100ms, … capped at 1s, and Reset starts
// over.
func TestDoublesToCapAndResets(t *testing.T) {
	b := New(50*time.Millisecond, time.Second)
	var got []time.Duration
	for range 7 {
		got = append(got, b.Next())
	}
	ms := time.Millisecond
	want := []time.Duration{50 * ms, 100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second, time.Second}
	if !slices.Equal(got, want) {
		t.Fatalf("delays %v, want %v", got, want)
	}
	b.Reset()
	if d := b.Next(); d != 50*ms {
		t.Fatalf("after Reset: %v, want 50ms", d)
	}
}
