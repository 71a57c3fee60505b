package ops

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/worker/queue"
)

// Queue is a declared queue with its contents at one moment.
type Queue struct {
	Config queue.Config
	Stats  queue.Stats
}

// errNoQueueStore: Ops was built without Config.Queues.
var errNoQueueStore = errors.New("ops: no queue store configured")

func (o *Ops) queueStore() (queue.Store, error) {
	if o.cfg.Queues == nil {
		return nil, errNoQueueStore
	}
	return o.cfg.Queues, nil
}

// Queues reports every declared queue, by name (queues removed while
// listing are left out).
func (o *Ops) Queues(ctx context.Context) ([]Queue, error) {
	s, err := o.queueStore()
	if err != nil {
		return nil, err
	}
	cfgs, err := s.Queues(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Queue, 0, len(cfgs))
	for _, c := range cfgs {
		st, err := s.Stats(ctx, c.Name)
		if errors.Is(err, queue.ErrUnknownQueue) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, Queue{Config: c, Stats: st})
	}
	return out, nil
}

// Queue reports one queue (queue.ErrUnknownQueue if it was never declared).
func (o *Ops) Queue(ctx context.Context, name string) (Queue, error) {
	s, err := o.queueStore()
	if err != nil {
		return Queue{}, err
	}
	c, err := s.Queue(ctx, name)
	if err != nil {
		return Queue{}, err
	}
	st, err := s.Stats(ctx, name)
	if err != nil {
		return Queue{}, err
	}
	return Queue{Config: c, Stats: st}, nil
}

// QueueDeadLetters lists a queue's dead letters by id, after after
// (uuid.Nil: from the first), at most limit (queue.ErrUnknownQueue).
func (o *Ops) QueueDeadLetters(ctx context.Context, name string, after uuid.UUID, limit int) ([]queue.DeadLetter, error) {
	s, err := o.queueStore()
	if err != nil {
		return nil, err
	}
	return s.DeadLetters(ctx, name, after, limit)
}

// QueueDeadLetter returns one dead letter of a queue (queue.ErrNotFound,
// queue.ErrUnknownQueue).
func (o *Ops) QueueDeadLetter(ctx context.Context, name string, id uuid.UUID) (queue.DeadLetter, error) {
	s, err := o.queueStore()
	if err != nil {
		return queue.DeadLetter{}, err
	}
	return s.DeadLetter(ctx, name, id)
}

// RequeueQueueDeadLetter makes a dead letter a ready message again, with
// its attempts reset.
func (o *Ops) RequeueQueueDeadLetter(ctx context.Context, name string, id uuid.UUID) error {
	s, err := o.queueStore()
	if err != nil {
		return err
	}
	return s.Requeue(ctx, name, id)
}

// DiscardQueueDeadLetter deletes a dead letter.
func (o *Ops) DiscardQueueDeadLetter(ctx context.Context, name string, id uuid.UUID) error {
	s, err := o.queueStore()
	if err != nil {
		return err
	}
	return s.Discard(ctx, name, id)
}
