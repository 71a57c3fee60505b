package runtime

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/causewayhq/causeway/internal/schedule"
	"github.com/causewayhq/causeway/worker/queue"
	qpostgres "github.com/causewayhq/causeway/worker/queue/postgres"
)

// Queues is the queue store, in the runtime's schema: enqueue with it
// (Enqueue, or EnqueueTx in a transaction of the app's own), or consume
// by hand with Dequeue and Ack. The app's queues (App.Queues) are declared
// by Migrate, which Run calls first.
func (r *Runtime) Queues() *qpostgres.Store { return r.queues }

// declareQueues declares App.Queues (they were validated by Open).
func (r *Runtime) declareQueues(ctx context.Context) error {
	for _, d := range r.app.Queues {
		if _, err := r.queues.Declare(ctx, d.Name(), d.Options()...); err != nil {
			return fmt.Errorf("declare queue %q: %w", d.Name(), err)
		}
	}
	return nil
}

// checkQueues reports every named queue (the queues of the app's
// consumers) that App.Queues does not declare and the database does not
// hold either: a consumer of it could never receive a message.
func (r *Runtime) checkQueues(ctx context.Context, names ...string) error {
	var errs []error
	for _, name := range names {
		if slices.ContainsFunc(r.app.Queues, func(d queue.Declaration) bool { return d.Name() == name }) {
			continue
		}
		_, err := r.queues.Queue(ctx, name)
		switch {
		case errors.Is(err, queue.ErrUnknownQueue):
			errs = append(errs, fmt.Errorf("consumer of queue %q: the queue is not declared "+
				"(add queue.Declare(%q, …) to App.Queues, or declare it from the program that owns it)", name, name))
		case err != nil:
			return err
		}
	}
	return errors.Join(errs...)
}

// queuePurgeJob is the name of the built-in job that purges the queues.
const queuePurgeJob = "queues:purge"

// defaultPurgeSchedule is how often the leader purges the queues.
const defaultPurgeSchedule = "@every 1m"

// purgeJob is the built-in job that deletes acked messages past their
// queue's retention and expired deduplication keys, so the queue tables
// never grow without bound.
func (r *Runtime) purgeJob() schedule.Job {
	spec := r.purgeSchedule
	if spec == "" {
		spec = defaultPurgeSchedule
	}
	return schedule.Job{Name: queuePurgeJob, Spec: spec, Run: func(ctx context.Context) error {
		start := time.Now()
		n, err := r.queues.Purge(ctx)
		schedule.SetResult(ctx, fmt.Sprintf("removed %d acked messages and expired deduplication keys", n))
		if err != nil || n > 0 {
			r.logger.Info("causeway: queues purged", "removed", n, "took", time.Since(start), "err", err)
		}
		return err
	}}
}

// queueRunner returns the runner of the app's consumers (nil without any),
// after checking that their queues exist.
func (r *Runtime) queueRunner(ctx context.Context) (*queue.Runner, error) {
	if len(r.app.Consumers) == 0 {
		return nil, nil
	}
	names := make([]string, len(r.app.Consumers))
	for i, c := range r.app.Consumers {
		names[i] = c.Queue()
	}
	if err := r.checkQueues(ctx, names...); err != nil {
		return nil, err
	}
	return queue.NewRunner(r.queues, queue.RunnerConfig{
		Logger: r.logger,
		OnHandled: func(q string, o queue.Outcome, d time.Duration) {
			r.tel.QueueHandled(q, string(o), d)
		},
	}, r.app.Consumers...)
}
