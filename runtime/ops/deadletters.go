package ops

import (
	"context"
	"os"
	"os/user"

	"github.com/causewayhq/causeway/checkpoint"
)

// Bulk dead-letter actions and remembered discards. A discard is
// remembered by event id for the subscription's lineage, with who did it,
// so a replay or a rebuild never delivers the event again (see package
// checkpoint, discard.go).

// RetryDeadLetters asks for a retry of every key with a dead letter f
// selects; each key's dead letters are re-delivered in order.
func (o *Ops) RetryDeadLetters(ctx context.Context, f checkpoint.DeadLetterFilter) (checkpoint.BulkResult, error) {
	return o.admin().RetryMatching(ctx, f)
}

// DiscardDeadLetters discards every dead letter f selects, remembering
// their events and who discarded them; keys whose first dead letter goes
// have the rest released.
func (o *Ops) DiscardDeadLetters(ctx context.Context, f checkpoint.DeadLetterFilter, by string) (checkpoint.BulkResult, error) {
	return o.admin().DiscardMatching(ctx, f, by)
}

// DiscardedEvents lists the discards remembered for a subscription's
// lineage: q.Subscription may be a build's name or the lineage itself (a
// versioned projection's name, which is no subscription of its own).
// checkpoint.ErrNotFound when there are none and no such subscription.
func (o *Ops) DiscardedEvents(ctx context.Context, q checkpoint.DiscardedQuery) ([]checkpoint.DiscardedEvent, error) {
	ds, err := o.admin().Discarded(ctx, q)
	if err != nil || len(ds) > 0 || q.AfterID > 0 {
		return ds, err
	}
	return ds, o.CheckSubscription(ctx, q.Subscription)
}

// LocalActor names whoever runs this process for the records of operator
// actions: "$USER@host" (the OS user when $USER is unset).
func LocalActor() string {
	name := os.Getenv("USER")
	if name == "" {
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
	}
	if name == "" {
		name = "unknown"
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		return name
	}
	return name + "@" + host
}

// BulkActionView is the outcome of a bulk retry or discard.
type BulkActionView struct {
	Subscription string `json:"subscription"`
	Action       string `json:"action"`
	// DeadLetters: marked for retry (every dead letter of the keys
	// selected), or discarded.
	DeadLetters int `json:"dead_letters"`
	// Keys: keys to be re-delivered (retry), or keys whose parked dead
	// letters were released by discarding their first one (discard).
	Keys int    `json:"keys"`
	By   string `json:"by,omitempty"`
}

// NewBulkActionView renders a bulk action's result.
func NewBulkActionView(sub, action, by string, r checkpoint.BulkResult) BulkActionView {
	return BulkActionView{Subscription: sub, Action: action, DeadLetters: r.DeadLetters, Keys: r.Keys, By: by}
}

// DiscardedEventView is a remembered discard.
type DiscardedEventView struct {
	ID           int64  `json:"id"`
	Lineage      string `json:"lineage"`
	EventID      string `json:"event_id"`
	Subscription string `json:"subscription"`
	Partition    int    `json:"partition"`
	Key          string `json:"key"`
	StreamID     string `json:"stream_id"`
	Version      int64  `json:"version"`
	Type         string `json:"type"`
	Error        string `json:"error"`
	DiscardedAt  string `json:"discarded_at"`
	DiscardedBy  string `json:"discarded_by"`
}

// DiscardedListView is a page of remembered discards.
type DiscardedListView struct {
	Discarded []DiscardedEventView `json:"discarded"`
	// NextAfter is the after= of the next page, when there may be one.
	NextAfter *int64 `json:"next_after,omitempty"`
}

// NewDiscardedListView renders a page; more: a next page may follow.
func NewDiscardedListView(ds []checkpoint.DiscardedEvent, more bool) DiscardedListView {
	v := DiscardedListView{Discarded: make([]DiscardedEventView, 0, len(ds))}
	for _, d := range ds {
		v.Discarded = append(v.Discarded, DiscardedEventView{ID: d.ID, Lineage: d.Lineage, EventID: d.EventID.String(),
			Subscription: d.Subscription, Partition: d.Partition, Key: d.Key, StreamID: d.StreamID, Version: d.Version,
			Type: d.Type, Error: d.Error, DiscardedAt: timestamp(d.DiscardedAt), DiscardedBy: d.DiscardedBy})
	}
	if more && len(ds) > 0 {
		last := ds[len(ds)-1].ID
		v.NextAfter = &last
	}
	return v
}
