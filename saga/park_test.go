package saga_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/saga"
)

// claimCounter counts, per instance, the claims, records and inbox reads.
type claimCounter struct {
	saga.Store
	mu      sync.Mutex
	claims  map[uuid.UUID]int
	records map[uuid.UUID]int
	inbox   map[string]int // by correlation id
}

func (c *claimCounter) Record(ctx context.Context, claimed, next saga.Instance, h saga.HistoryEntry, fx saga.Effects, consumed *saga.InboxEntry, keep time.Duration) (saga.Instance, error) {
	c.mu.Lock()
	c.records[claimed.ID]++
	c.mu.Unlock()
	return c.Store.Record(ctx, claimed, next, h, fx, consumed, keep)
}

func (c *claimCounter) Inbox(ctx context.Context, sagaType, corr, eventType string) ([]saga.InboxEntry, error) {
	c.mu.Lock()
	c.inbox[corr]++
	c.mu.Unlock()
	return c.Store.Inbox(ctx, sagaType, corr, eventType)
}

func (c *claimCounter) Claim(ctx context.Context, types []string, owner string, n int, lease time.Duration) ([]saga.Instance, error) {
	got, err := c.Store.Claim(ctx, types, owner, n, lease)
	c.mu.Lock()
	for _, inst := range got {
		c.claims[inst.ID]++
	}
	c.mu.Unlock()
	return got, err
}

func (c *claimCounter) count(id uuid.UUID) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.claims[id]
}

func (c *claimCounter) counts(id uuid.UUID, corr string) (claims, records, inboxReads int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.claims[id], c.records[id], c.inbox[corr]
}

// TestParkingCostsNoClaim: a saga reaching a wait step is neither claimed
// again nor kept leased just to look for an event filed early: the record
// that parks it looks in its inbox. With its event already filed it
// receives it under the claim it has; without, it parks unleased in that
// one record (no inbox read, no second record to let go), and only the
// event's arrival makes it claimable again.
func TestParkingCostsNoClaim(t *testing.T) {
	e := newPGEnv(t)
	counter := &claimCounter{Store: e.store, claims: map[uuid.UUID]int{}, records: map[uuid.UUID]int{}, inbox: map[string]int{}}
	def := fulfilment(time.Hour, nil)
	e.append(t, "payment-early", "PaymentConfirmed", paid{Order: "early", Ref: "pay-1"})
	e.append(t, "order-early", "OrderPlaced", order{Order: "early"})
	e.append(t, "order-late", "OrderPlaced", order{Order: "late"})
	e.run(t, def, "x", func(c *saga.ExecutorConfig) { c.Store = counter })

	early, late := saga.InstanceID("fulfilment", "early"), saga.InstanceID("fulfilment", "late")
	e.waitStatus(t, early, 20*time.Second, saga.StatusCompleted)
	// A start is handed to the executor without a claim (saga.HandOff).
	if n := counter.count(early); n != 0 {
		t.Fatalf("the saga whose event was filed early was claimed %d times, want 0", n)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		inst, err := e.store.Get(ctxT(t), late)
		if err == nil && inst.Status == saga.StatusWaiting && inst.LeaseOwner == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the late saga never parked: %+v, %v", inst, err)
		}
	}
	if claims, records, reads := counter.counts(late, "late"); claims != 0 || records != 1 || reads != 0 {
		t.Fatalf("parking took %d claims, %d records, %d inbox reads; want no claim (handed over), 1 record (reserve, parked with it), no inbox read",
			claims, records, reads)
	}
	e.append(t, "payment-late", "PaymentConfirmed", paid{Order: "late", Ref: "pay-2"})
	if s := state(t, e.waitStatus(t, late, 20*time.Second, saga.StatusCompleted)); s.Payment != "pay-2" || !s.Shipped {
		t.Fatalf("state %+v", s)
	}
	if n := counter.count(late); n != 1 {
		t.Fatalf("the parked saga was claimed %d times in all, want 1 (the event)", n)
	}
}
