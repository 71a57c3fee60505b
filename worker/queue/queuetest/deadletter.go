package queuetest

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/worker/queue"
)

// testDeadLetterByID: DeadLetter returns one dead letter as DeadLetters
// lists it, and refuses live messages, other queues' dead letters, unknown
// ids and unknown queues.
func testDeadLetterByID(t *testing.T, h Harness) {
	s, ctx := h.New(t), ctxOf(t)
	declare(t, s, "jobs", queue.MaxAttempts(1))
	declare(t, s, "other", queue.MaxAttempts(1))
	e := enqueue(t, s, "jobs", queue.New(body(1), queue.Header("h", "1"), queue.Priority(3)), queue.New(body(2)))
	ds := dequeue(t, s, "jobs", 1, time.Minute)
	if len(ds) != 1 || ds[0].ID != e[0].ID {
		t.Fatalf("dequeued %v, want %s", ids(ds), e[0].ID)
	}
	if dead, err := s.Nack(ctx, ds[0].Receipt, 0, errors.New("boom")); err != nil || !dead {
		t.Fatalf("nack on the last attempt: dead %v, %v", dead, err)
	}
	dl, err := s.DeadLetter(ctx, "jobs", e[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if dl.ID != e[0].ID || dl.Queue != "jobs" || !sameJSON(dl.Payload, body(1)) || dl.Headers["h"] != "1" ||
		dl.Priority != 3 || dl.Attempts != 1 || dl.LastError != "boom" || dl.DeadAt.IsZero() || dl.EnqueuedAt.IsZero() {
		t.Fatalf("dead letter = %+v", dl)
	}
	list, err := s.DeadLetters(ctx, "jobs", uuid.Nil, 10)
	if err != nil || len(list) != 1 {
		t.Fatalf("dead letters %v, %v", list, err)
	}
	if !list[0].DeadAt.Equal(dl.DeadAt) || !list[0].EnqueuedAt.Equal(dl.EnqueuedAt) || list[0].LastError != dl.LastError {
		t.Fatalf("DeadLetter %+v differs from its DeadLetters entry %+v", dl, list[0])
	}
	// The returned value is a copy: changing it changes nothing stored.
	dl.Headers["h"] = "changed"
	if again, err := s.DeadLetter(ctx, "jobs", e[0].ID); err != nil || again.Headers["h"] != "1" {
		t.Fatalf("after changing the returned headers: %+v, %v", again, err)
	}
	for what, id := range map[string]uuid.UUID{"a live message": e[1].ID, "an unknown id": uuid.New()} {
		if _, err := s.DeadLetter(ctx, "jobs", id); !errors.Is(err, queue.ErrNotFound) {
			t.Errorf("DeadLetter of %s: %v, want ErrNotFound", what, err)
		}
	}
	if _, err := s.DeadLetter(ctx, "other", e[0].ID); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("DeadLetter through another queue: %v, want ErrNotFound", err)
	}
	if _, err := s.DeadLetter(ctx, "nope", e[0].ID); !errors.Is(err, queue.ErrUnknownQueue) {
		t.Errorf("DeadLetter of an undeclared queue: %v, want ErrUnknownQueue", err)
	}
	if err := s.Requeue(ctx, "jobs", e[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeadLetter(ctx, "jobs", e[0].ID); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("DeadLetter after requeue: %v, want ErrNotFound", err)
	}
}

// sameJSON: a and b are the same JSON value (jsonb normalises spacing).
func sameJSON(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}
