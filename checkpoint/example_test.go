package checkpoint_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/eventlog/memory"
)

// What a worker does with the store, by hand on the memory store: register
// a subscription, claim its partitions, record a failed event as a dead
// letter and move the checkpoint past it in one unit of work, and lose a
// lease to a reset (fencing).
func Example() {
	ctx := context.Background()
	log := memory.New(memory.Options{})
	defer log.Close()
	e, _ := eventlog.NewEvent("EmailRequested", map[string]string{"to": "ann@example.com"})
	appended, _ := log.Append(ctx, "email-1", eventlog.NoStream, e)
	pos := appended.Positions[0]

	store := checkpoint.NewMemory()
	sub, _ := store.Register(ctx, checkpoint.Subscription{Name: "mailer", Partitions: 1})
	leases, _ := store.Claim(ctx, sub.Name, "member-a", 1, 10*time.Second)
	lease := leases[0]
	fmt.Println("claimed partition", lease.Partition, "epoch", lease.Epoch)

	// The handler gave up on the event: keep it as a dead letter, and pass it.
	tx, _ := store.Begin(ctx)
	tx.PutDeadLetter(ctx, checkpoint.DeadLetter{Subscription: sub.Name, Partition: lease.Partition,
		Key: "email-1", EventID: appended.IDs[0], Position: pos, StreamID: "email-1", Version: 1,
		Type: e.Type, Error: "smtp: connection refused", Attempts: 5, LastFailedAt: time.Now()})
	if err := tx.Commit(ctx, lease, pos); err != nil {
		fmt.Println(err)
		return
	}
	parts, _ := store.Partitions(ctx, sub.Name)
	fmt.Println("checkpoint at the event:", parts[0].Checkpoint == pos)
	dls, _ := store.DeadLetters(ctx, checkpoint.DeadLetterQuery{Subscription: sub.Name})
	fmt.Println("dead letter:", dls[0].Key, dls[0].Error)

	// A reset (a replay) bumps the epoch: the old lease can commit nothing.
	store.Reset(ctx, sub.Name)
	err := store.Commit(ctx, lease, pos)
	fmt.Println("fenced:", errors.Is(err, checkpoint.ErrFenced))
	// Output:
	// claimed partition 0 epoch 1
	// checkpoint at the event: true
	// dead letter: email-1 smtp: connection refused
	// fenced: true
}
