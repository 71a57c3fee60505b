package queue_test

import (
	"errors"
	"testing"

	"github.com/causewayhq/causeway/worker/queue"
)

func TestEncode(t *testing.T) {
	type job struct {
		Order string `json:"order"`
	}
	m, err := queue.Encode(job{Order: "0001"}, queue.Priority(3), queue.Header("k", "v"))
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Payload) != `{"order":"0001"}` || m.Priority != 3 || m.Headers["k"] != "v" {
		t.Fatalf("Encode = %+v", m)
	}
	if _, err := queue.Encode(func() {}); !errors.Is(err, queue.ErrInvalidMessage) {
		t.Fatalf("Encode(func) = %v, want ErrInvalidMessage", err)
	}
}
