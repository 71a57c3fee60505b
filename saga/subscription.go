package saga

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/worker"
)

// subscriptionPrefix starts the name of every saga's subscription.
const subscriptionPrefix = "saga:"

// SubscriptionName is the name of a saga type's subscription.
func SubscriptionName(sagaType string) string { return subscriptionPrefix + sagaType }

// namespace for instance ids: an instance's id is a function of its type
// and correlation id, so a start is idempotent however often it is tried.
var namespace = uuid.MustParse("6f1c3a52-3c2e-4d8e-9a57-6b9f0c1d2e3f")

// InstanceID is the id of the (type, correlation id) instance.
func InstanceID(sagaType, correlationID string) uuid.UUID {
	return uuid.NewSHA1(namespace, []byte(sagaType+"\x00"+correlationID))
}

// SubscriptionOption tunes how a process runs a saga's subscription.
type SubscriptionOption func(*subscriptionConfig)

type subscriptionConfig struct {
	onStarted func(inst Instance)
	clock     worker.Clock
	executor  *Executor // HandOff
}

// OnStarted is called (inside the subscription's transaction, before it
// commits) when an instance is created.
func OnStarted(fn func(inst Instance)) SubscriptionOption {
	return func(c *subscriptionConfig) { c.onStarted = fn }
}

// SubscriptionClock dates a new instance's first step (default
// worker.SystemClock): give it the executor's clock.
func SubscriptionClock(c worker.Clock) SubscriptionOption {
	return func(c2 *subscriptionConfig) { c2.clock = c }
}

// Subscription returns the transactional subscription that starts
// instances of def — exactly once per correlation id, in the transaction
// that moves the subscription's checkpoint — and files the events its wait
// steps wait for.
func Subscription(store Store, def Saga, opts ...SubscriptionOption) (worker.Subscription, error) {
	var cfg subscriptionConfig
	for _, o := range opts {
		o(&cfg)
	}
	if err := def.Err(); err != nil {
		return worker.Subscription{}, err
	}
	steps := def.steps_()
	starts := def.startTypes()
	types := slices.Clone(starts)
	waits := map[string][]int{}
	for i, s := range steps {
		if s.wait != "" {
			waits[s.wait] = append(waits[s.wait], i)
			if !slices.Contains(types, s.wait) {
				types = append(types, s.wait)
			}
		}
	}
	slices.Sort(types)
	clock := cfg.clock
	if clock == nil {
		clock = worker.SystemClock
		if cfg.executor != nil {
			clock = cfg.executor.cfg.Clock
		}
	}
	handler := func(ctx context.Context, d *worker.Delivery) error {
		e := d.Event
		if slices.Contains(starts, e.Type) {
			corr, state, err := def.start(ctx, e)
			if err != nil {
				return err
			}
			inst := Instance{ID: InstanceID(def.Name(), corr), Type: def.Name(), CorrelationID: corr, State: state, StartedBy: e.ID}
			inst.TraceParent, inst.TraceState = traceContext(e.Metadata)
			inst.enterStep(steps, 0, clock.Now())
			if inst.Status == StatusWaiting {
				// A start is an insert, which cannot look in the inbox
				// race-free: the executor looks once.
				inst.NextAttemptAt = clock.Now()
			}
			created, err := startInstance(ctx, store, cfg.executor, d, inst)
			if err != nil {
				return err
			}
			if created && cfg.onStarted != nil {
				cfg.onStarted(inst)
			}
		}
		for _, i := range waits[e.Type] {
			corr, err := def.correlate(ctx, i, e)
			if err != nil {
				return err
			}
			if corr == "" {
				continue
			}
			if err := validateCorrelationID(corr); err != nil {
				return worker.Permanent(fmt.Errorf("saga %s: wait %s: %s event %s: %w", def.Name(), steps[i].name, e.Type, e.ID, err))
			}
			if err := store.AddInbox(ctx, d.Tx, def.Name(), corr, e); err != nil {
				return err
			}
			if cfg.executor != nil {
				wakeAfterCommit(cfg.executor, d) // it may have woken a waiting instance
			}
		}
		return nil
	}
	return worker.NewSubscription(SubscriptionName(def.Name()),
		worker.Filter(eventlog.Filter{Types: types}),
		worker.Partitions(def.subscriptionPartitions()),
		worker.Mode(worker.Transactional),
		worker.OnAny(handler),
	), nil
}
