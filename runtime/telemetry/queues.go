package telemetry

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/causewayhq/causeway/worker/queue"
)

// queueInstruments creates the queues' instruments.
func (t *Telemetry) queueInstruments(m metric.Meter) error {
	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	// causeway_queue_handling_duration_seconds{queue,outcome}
	t.queueHandled, err = m.Float64Histogram("causeway.queue.handling.duration", metric.WithUnit("s"),
		metric.WithDescription("Time a queue consumer's handler took for one delivery, by outcome (acked, retried, dead, released, stale)."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	check(err)
	// causeway_queue_depth{queue}
	t.queueDepth, err = m.Int64ObservableGauge("causeway.queue.depth", metric.WithUnit("{message}"),
		metric.WithDescription("Messages in the queue not acked nor dead: ready, delayed and in flight."))
	check(err)
	// causeway_queue_ready{queue}
	t.queueReady, err = m.Int64ObservableGauge("causeway.queue.ready", metric.WithUnit("{message}"),
		metric.WithDescription("Messages deliverable now."))
	check(err)
	// causeway_queue_in_flight{queue}
	t.queueFlight, err = m.Int64ObservableGauge("causeway.queue.in_flight", metric.WithUnit("{message}"),
		metric.WithDescription("Messages held by a consumer (visibility not run out)."))
	check(err)
	// causeway_queue_dead_letters{queue}
	t.queueDead, err = m.Int64ObservableGauge("causeway.queue.dead_letters", metric.WithUnit("{message}"),
		metric.WithDescription("Dead letters the queue holds: messages that used up their attempts."))
	check(err)
	// causeway_queue_oldest_ready_age_seconds{queue}
	t.queueAge, err = m.Float64ObservableGauge("causeway.queue.oldest_ready_age", metric.WithUnit("s"),
		metric.WithDescription("How long the oldest ready message has been ready (0 when none is): how far consumers are behind."))
	check(err)
	return errors.Join(errs...)
}

// observeQueues reports the queues' gauges from a snapshot.
func (t *Telemetry) observeQueues(o metric.Observer, qs map[string]queue.Stats) {
	for name, st := range qs {
		a := t.attrs("queue", name)
		o.ObserveInt64(t.queueDepth, st.Depth, a)
		o.ObserveInt64(t.queueReady, st.Ready, a)
		o.ObserveInt64(t.queueFlight, st.InFlight, a)
		o.ObserveInt64(t.queueDead, st.Dead, a)
		o.ObserveFloat64(t.queueAge, st.OldestReadyAge.Seconds(), a)
	}
}

// QueueHandled records one handled delivery of a queue consumer: pass it
// as queue.RunnerConfig.OnHandled (converting the outcome to a string).
func (t *Telemetry) QueueHandled(queue, outcome string, took time.Duration) {
	t.queueHandled.Record(context.Background(), took.Seconds(), t.attrs("queue", queue, "outcome", outcome))
}
