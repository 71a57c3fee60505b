package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/worker/queue"
	"github.com/causewayhq/causeway/worker/queue/postgres"
)

// handledAt records when each message reached the handler.
type handledAt struct {
	mu sync.Mutex
	at map[uuid.UUID]time.Time
}

func (h *handledAt) handler() queue.ConsumerOption {
	h.at = map[uuid.UUID]time.Time{}
	return queue.HandleRaw(func(ctx context.Context, d queue.Delivery) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.at[d.ID]; !ok {
			h.at[d.ID] = time.Now()
		}
		return nil
	})
}

func (h *handledAt) get(id uuid.UUID) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	at, ok := h.at[id]
	return at, ok
}

// TestConsumerWokenByNotification: a consumer whose poll is a minute away
// handles messages enqueued by another process (another store, pool and
// LISTEN-less producer) within seconds (milliseconds, in practice): NOTIFY
// woke it.
// Both Enqueue (notified after its commit) and EnqueueTx (notified at the
// caller's commit) are covered.
func TestConsumerWokenByNotification(t *testing.T) {
	schema, pool := pgtest.NewMigratedSchema(t)
	const app = "cw-queue-notify-test"
	consumer := storeIn(t, pool, schema, postgres.ListenURL(pgtest.WithAppName(t, pgtest.URL(t), app)))
	producerPool := otherPool(t, pgtest.URL(t))
	producer := storeIn(t, producerPool, schema)
	ctx := testCtx(t)
	if _, err := consumer.Declare(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	var h handledAt
	startRunner(t, consumer, queue.RunnerConfig{PollInterval: time.Minute}, queue.NewConsumer("jobs", h.handler()))
	pgtest.ListenerPID(t, pool, app)

	const within = 2 * time.Second
	for i := range 6 {
		var id uuid.UUID
		begin := time.Now()
		if i%2 == 0 {
			e, err := producer.Enqueue(ctx, "jobs", queue.New(json.RawMessage(fmt.Sprint(i))))
			if err != nil {
				t.Fatal(err)
			}
			id = e[0].ID
		} else {
			tx, err := producerPool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			e, err := producer.EnqueueTx(ctx, tx, "jobs", queue.New(json.RawMessage(fmt.Sprint(i))))
			if err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			id = e[0].ID
		}
		waitFor(t, within, fmt.Sprintf("message %d handled (poll interval: a minute)", i), func() bool {
			_, ok := h.get(id)
			return ok
		})
		at, _ := h.get(id)
		t.Logf("message %d: enqueue to handler %v", i, at.Sub(begin))
	}
}

// TestConsumerDelayedNotEarly: a delayed message reaches the handler no
// sooner than its delay, and soon after it (the consumer sleeps until the
// message is due, not until its next poll a minute away).
func TestConsumerDelayedNotEarly(t *testing.T) {
	s, _ := newStore(t)
	ctx := testCtx(t)
	if _, err := s.Declare(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	var h handledAt
	startRunner(t, s, queue.RunnerConfig{PollInterval: time.Minute}, queue.NewConsumer("jobs", h.handler()))
	const delay = 700 * time.Millisecond
	begin := time.Now()
	notBefore := begin.Add(400 * time.Millisecond)
	e, err := s.Enqueue(ctx, "jobs",
		queue.New(json.RawMessage(`1`), queue.Delay(delay)),
		queue.New(json.RawMessage(`2`), queue.NotBefore(notBefore)))
	if err != nil {
		t.Fatal(err)
	}
	for i, due := range []time.Time{begin.Add(delay), notBefore} {
		waitFor(t, 5*time.Second, fmt.Sprintf("message %d handled", i), func() bool {
			_, ok := h.get(e[i].ID)
			return ok
		})
		at, _ := h.get(e[i].ID)
		if at.Before(due) {
			t.Errorf("message %d handled %v before it was due", i, due.Sub(at))
		}
		if late := at.Sub(due); late > 2*time.Second {
			t.Errorf("message %d handled %v after it was due (the poll is a minute away)", i, late)
		}
		t.Logf("message %d: handled %v after due", i, at.Sub(due))
	}
}
