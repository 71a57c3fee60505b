package testkit

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/causewayhq/causeway/worker/queue"
	qmemory "github.com/causewayhq/causeway/worker/queue/memory"
)

// TestRecordingQueuesSkipsDuplicates: a message a deduplication key held
// back was not stored, so Enqueued does not list it.
func TestRecordingQueuesSkipsDuplicates(t *testing.T) {
	ctx := t.Context()
	clock := NewClock(Epoch)
	store := qmemory.New(qmemory.WithClock(clock))
	if _, err := store.Declare(ctx, "mail"); err != nil {
		t.Fatal(err)
	}
	r := newRecordingQueues(store, clock)
	for i := 0; i < 2; i++ {
		if _, err := r.Enqueue(ctx, "mail", queue.New(json.RawMessage(`{}`), queue.Dedup("k", time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.enqueued("mail"); len(got) != 1 {
		t.Fatalf("recorded %d messages, want 1 (the second was a duplicate)", len(got))
	}
	if st, _ := store.Stats(ctx, "mail"); st.Depth != 1 {
		t.Fatalf("store holds %d", st.Depth)
	}
}
