package memory_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/causewayhq/causeway/worker/queue"
	"github.com/causewayhq/causeway/worker/queue/memory"
)

// Enqueue a job, take it with a visibility timeout, fail it once, then
// take it again and ack it.
func Example() {
	ctx := context.Background()
	s := memory.New()
	if _, err := s.Declare(ctx, "emails", queue.MaxAttempts(3)); err != nil {
		panic(err)
	}
	if _, err := s.Enqueue(ctx, "emails", queue.New([]byte(`{"to":"ada@example.com"}`), queue.Header("kind", "welcome"))); err != nil {
		panic(err)
	}

	ds, _ := s.Dequeue(ctx, "emails", 10, 30*time.Second)
	fmt.Println(string(ds[0].Payload), ds[0].Headers["kind"], "attempt", ds[0].Attempts)
	dead, _ := s.Nack(ctx, ds[0].Receipt, 0, errors.New("smtp: timeout"))
	fmt.Println("dead:", dead)

	again, _ := s.Dequeue(ctx, "emails", 10, 30*time.Second)
	fmt.Println("attempt", again[0].Attempts)
	fmt.Println("ack:", s.Ack(ctx, again[0].Receipt))
	fmt.Println("ack with the first receipt:", errors.Is(s.Ack(ctx, ds[0].Receipt), queue.ErrStaleReceipt))
	// Output:
	// {"to":"ada@example.com"} welcome attempt 1
	// dead: false
	// attempt 2
	// ack: <nil>
	// ack with the first receipt: true
}
