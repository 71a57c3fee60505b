package telemetry

// Metrics and traces: OpenTelemetry metrics, served in the Prometheus exposition
// format on /metrics, and traces that continue the appender's trace.
//
// Dependencies: go.opentelemetry.io/otel (API, SDK metric) records the
// metrics; go.opentelemetry.io/otel/exporters/prometheus and
// github.com/prometheus/client_golang (a private Registry and promhttp)
// expose them. The exporter is an accepted addition: it beats writing and
// maintaining an exposition-format encoder (escaping, histograms, content
// negotiation, OpenMetrics) by hand, and it is the OpenTelemetry project's
// own bridge to Prometheus.
//
// Every telemetry value owns its registry and meter provider: nothing is
// global, so several runtimes (tests) can live in one process.

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/saga"
	"github.com/causewayhq/causeway/worker"
	"github.com/causewayhq/causeway/worker/queue"
)

// instrumentationName names the meter and the tracer.
const instrumentationName = "github.com/causewayhq/causeway/runtime"

// defaultCollectInterval is how often collect refreshes the gauges that
// need the database (lag, dead letters, horizon, saga counts).
const defaultCollectInterval = 5 * time.Second

// durationBuckets are the histogram boundaries, in seconds: from half a
// millisecond (a handler writing one row) to half a minute (a slow step).
var durationBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// sagaStatuses are reported for every saga type, zeros included, so series
// do not come and go.
var sagaStatuses = saga.Statuses

// Telemetry holds a process's metrics and tracing. Build it with New.
type Telemetry struct {
	app string
	// tracerProvider, when set, is used instead of the global one
	// (otel.GetTracerProvider(), looked up at each use so a provider
	// installed after Open still applies).
	tracerProvider trace.TracerProvider
	propagator     propagation.TraceContext

	registry *prometheus.Registry
	provider *sdkmetric.MeterProvider
	handler  http.Handler
	// export is the OTEL_* export, nil when not asked for.
	export *Export

	handled      metric.Int64Counter
	duration     metric.Float64Histogram
	retries      metric.Int64Counter
	deadLettered metric.Int64Counter
	halts        metric.Int64Counter
	leases       metric.Int64Counter
	transitions  metric.Int64Counter
	stepDuration metric.Float64Histogram
	queueHandled metric.Float64Histogram

	// Gauges observed from the last collected snapshot.
	lagEvents   metric.Int64ObservableGauge
	lagSeconds  metric.Float64ObservableGauge
	deadLetters metric.Int64ObservableGauge
	halted      metric.Int64ObservableGauge
	partitions  metric.Int64ObservableGauge
	horizonAge  metric.Float64ObservableGauge
	horizonHeld metric.Int64ObservableGauge
	sagas       metric.Int64ObservableGauge
	queueDepth  metric.Int64ObservableGauge
	queueReady  metric.Int64ObservableGauge
	queueFlight metric.Int64ObservableGauge
	queueDead   metric.Int64ObservableGauge
	queueAge    metric.Float64ObservableGauge

	mu   sync.Mutex
	snap *gaugeSnapshot // nil until the first successful collection

	attrCache sync.Map // string → metric.MeasurementOption
}

// gaugeSnapshot is what collect read from the database last.
type gaugeSnapshot struct {
	subs        []subGauges
	horizonAge  float64
	horizonHeld bool
	sagas       map[string]map[saga.Status]int
	queues      map[string]queue.Stats
}

type subGauges struct {
	name        string
	lagEvents   int64
	lagSeconds  float64
	deadLetters int64
	halted      bool
	partitions  map[string]int64 // by state
}

// Options configure New.
type Options struct {
	// Service names the process in the metrics' resource (service.name;
	// default "causeway").
	Service string
	// TracerProvider, when set, makes the handler spans; nil uses the
	// global provider, looked up at each use.
	TracerProvider trace.TracerProvider
	// Export, when set, also exports the metrics as the OTEL_* variables
	// say (see NewExport).
	Export *Export
}

// Gauges is the system's state the gauges show: what Collect's read
// function returns (package runtime reads it from ops.Ops.Status).
type Gauges struct {
	Subscriptions []worker.SubscriptionStatus
	// HorizonHeld and HorizonAge: an open transaction holds the log's
	// visibility horizon back, since this long.
	HorizonHeld bool
	HorizonAge  time.Duration
	// Sagas counts instances by type and status.
	Sagas map[string]map[saga.Status]int
	// Queues are the declared queues' contents, by name.
	Queues map[string]queue.Stats
}

// New builds the metrics (and, with opts.Export, their OTEL_* export).
func New(o Options) (*Telemetry, error) {
	app, export := o.Service, o.Export
	t := &Telemetry{app: app, tracerProvider: o.TracerProvider, registry: prometheus.NewRegistry(), export: export}
	t.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	exporter, err := otelprom.New(
		otelprom.WithRegisterer(t.registry),
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes),
		otelprom.WithoutScopeInfo(),
	)
	if err != nil {
		return nil, err
	}
	res := resource.NewSchemaless(attribute.String("service.name", serviceName(app)))
	opts := []sdkmetric.Option{sdkmetric.WithReader(exporter)}
	if export != nil {
		res = export.res
		if export.reader != nil {
			opts = append(opts, sdkmetric.WithReader(export.reader))
		}
	}
	t.provider = sdkmetric.NewMeterProvider(append(opts, sdkmetric.WithResource(res))...)
	t.handler = promhttp.HandlerFor(t.registry, promhttp.HandlerOpts{})
	if err := t.instruments(t.provider.Meter(instrumentationName)); err != nil {
		return nil, err
	}
	return t, nil
}

// serviceName is the app's name as an OpenTelemetry service.name.
func serviceName(app string) string {
	if app == "" {
		return "causeway"
	}
	return app
}

// instruments creates the instruments (the Prometheus names are in the
// comments: the exporter adds _total to counters and the unit suffix).
func (t *Telemetry) instruments(m metric.Meter) error {
	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	// causeway_events_handled_total{subscription,outcome}
	t.handled, err = m.Int64Counter("causeway.events.handled", metric.WithUnit("{event}"),
		metric.WithDescription("Deliveries of events to subscription handlers, by outcome (ok, error, permanent, panic)."))
	check(err)
	// causeway_handler_duration_seconds{subscription}
	t.duration, err = m.Float64Histogram("causeway.handler.duration", metric.WithUnit("s"),
		metric.WithDescription("Time a subscription handler took for one delivery."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	check(err)
	// causeway_retries_total{subscription}
	t.retries, err = m.Int64Counter("causeway.retries", metric.WithUnit("{delivery}"),
		metric.WithDescription("Deliveries that retry an event after a failed attempt (retry policy or operator retry of a dead letter)."))
	check(err)
	// causeway_events_dead_lettered_total{subscription,blocked}
	t.deadLettered, err = m.Int64Counter("causeway.events.dead_lettered", metric.WithUnit("{event}"),
		metric.WithDescription("Events sent to the dead letters (blocked: parked behind an earlier dead letter of their key)."))
	check(err)
	// causeway_partition_halts_total{subscription}
	t.halts, err = m.Int64Counter("causeway.partition.halts", metric.WithUnit("{halt}"),
		metric.WithDescription("Partitions that halted at their subscription's dead-letter cap."))
	check(err)
	// causeway_lease_changes_total{subscription,owned,reason}
	t.leases, err = m.Int64Counter("causeway.lease.changes", metric.WithUnit("{change}"),
		metric.WithDescription("Partition leases this process gained (owned=true) or lost (owned=false), by reason."))
	check(err)
	// causeway_saga_transitions_total{saga_type,from,to}
	t.transitions, err = m.Int64Counter("causeway.saga.transitions", metric.WithUnit("{transition}"),
		metric.WithDescription("Recorded saga step outcomes, by status before and after."))
	check(err)
	// causeway_saga_step_duration_seconds{saga_type,step,phase,outcome}
	t.stepDuration, err = m.Float64Histogram("causeway.saga.step.duration", metric.WithUnit("s"),
		metric.WithDescription("Time one attempt of a saga step took."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	check(err)
	// causeway_subscription_lag_events{subscription}
	t.lagEvents, err = m.Int64ObservableGauge("causeway.subscription.lag.events", metric.WithUnit("{event}"),
		metric.WithDescription("Events the subscription's slowest partition has yet to pass."))
	check(err)
	// causeway_subscription_lag_seconds{subscription}
	t.lagSeconds, err = m.Float64ObservableGauge("causeway.subscription.lag", metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest event the subscription has not handled yet."))
	check(err)
	// causeway_subscription_dead_letters{subscription}
	t.deadLetters, err = m.Int64ObservableGauge("causeway.subscription.dead_letters", metric.WithUnit("{event}"),
		metric.WithDescription("Dead letters the subscription holds now."))
	check(err)
	// causeway_subscription_halted{subscription}
	t.halted, err = m.Int64ObservableGauge("causeway.subscription.halted",
		metric.WithDescription("1 when the subscription is halted at its dead-letter cap."))
	check(err)
	// causeway_subscription_partitions{subscription,state}
	t.partitions, err = m.Int64ObservableGauge("causeway.subscription.partitions", metric.WithUnit("{partition}"),
		metric.WithDescription("Partitions by state (running, catching-up, stopped: no live lease)."))
	check(err)
	// causeway_log_horizon_age_seconds
	t.horizonAge, err = m.Float64ObservableGauge("causeway.log.horizon.age", metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest open transaction holding the log's visibility horizon back (0 when none)."))
	check(err)
	// causeway_log_horizon_held
	t.horizonHeld, err = m.Int64ObservableGauge("causeway.log.horizon.held",
		metric.WithDescription("1 when an open transaction holds the log's visibility horizon back."))
	check(err)
	// causeway_sagas{saga_type,status}
	t.sagas, err = m.Int64ObservableGauge("causeway.sagas", metric.WithUnit("{instance}"),
		metric.WithDescription("Saga instances of the registered types, by status."))
	check(err)
	check(t.queueInstruments(m))
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	_, err = m.RegisterCallback(t.observe, t.lagEvents, t.lagSeconds, t.deadLetters, t.halted,
		t.partitions, t.horizonAge, t.horizonHeld, t.sagas,
		t.queueDepth, t.queueReady, t.queueFlight, t.queueDead, t.queueAge)
	return err
}

// attrs returns the measurement option for alternating keys and values,
// cached: handlers run hot and the label sets are few.
func (t *Telemetry) attrs(kv ...string) metric.MeasurementOption {
	key := strings.Join(kv, "\x00")
	if o, ok := t.attrCache.Load(key); ok {
		return o.(metric.MeasurementOption)
	}
	list := make([]attribute.KeyValue, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		list = append(list, attribute.String(kv[i], kv[i+1]))
	}
	o := metric.WithAttributeSet(attribute.NewSet(list...))
	t.attrCache.Store(key, o)
	return o
}

// observe reports the last snapshot's gauges.
func (t *Telemetry) observe(_ context.Context, o metric.Observer) error {
	t.mu.Lock()
	s := t.snap
	t.mu.Unlock()
	if s == nil {
		return nil
	}
	for _, sub := range s.subs {
		a := t.attrs("subscription", sub.name)
		o.ObserveInt64(t.lagEvents, sub.lagEvents, a)
		o.ObserveFloat64(t.lagSeconds, sub.lagSeconds, a)
		o.ObserveInt64(t.deadLetters, sub.deadLetters, a)
		o.ObserveInt64(t.halted, boolInt(sub.halted), a)
		for _, state := range []string{worker.StateRunning, worker.StateCatchingUp, worker.StateStopped} {
			o.ObserveInt64(t.partitions, sub.partitions[state], t.attrs("subscription", sub.name, "state", state))
		}
	}
	o.ObserveFloat64(t.horizonAge, s.horizonAge)
	o.ObserveInt64(t.horizonHeld, boolInt(s.horizonHeld))
	for typ, counts := range s.sagas {
		for _, st := range sagaStatuses {
			o.ObserveInt64(t.sagas, int64(counts[st]), t.attrs("saga_type", typ, "status", string(st)))
		}
	}
	t.observeQueues(o, s.queues)
	return nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// tracer returns the tracer of the configured provider, or of the global
// one.
func (t *Telemetry) tracer() trace.Tracer {
	tp := t.tracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return tp.Tracer(instrumentationName)
}

// metadataCarrier exposes an event's trace fields to the W3C propagator.
type metadataCarrier struct{ m *eventlog.Metadata }

const (
	traceParentHeader = "traceparent"
	traceStateHeader  = "tracestate"
)

func (c metadataCarrier) Get(key string) string {
	switch strings.ToLower(key) {
	case traceParentHeader:
		return c.m.TraceParent
	case traceStateHeader:
		return c.m.TraceState
	}
	return ""
}

func (c metadataCarrier) Set(key, value string) {
	switch strings.ToLower(key) {
	case traceParentHeader:
		c.m.TraceParent = value
	case traceStateHeader:
		c.m.TraceState = value
	}
}

func (c metadataCarrier) Keys() []string {
	var keys []string
	if c.m.TraceParent != "" {
		keys = append(keys, traceParentHeader)
	}
	if c.m.TraceState != "" {
		keys = append(keys, traceStateHeader)
	}
	return keys
}

// Enrich stores the W3C trace context of ctx's span in an event's metadata
// (unless the caller set one), so its handlers continue the trace.
func (t *Telemetry) Enrich(ctx context.Context, m *eventlog.Metadata) {
	if m == nil || m.TraceParent != "" || !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	m.TraceState = "" // a trace state means nothing without its parent
	t.propagator.Inject(ctx, metadataCarrier{m})
}

// WrapHandler runs h in a consumer span that is a child of the span that
// appended the event (from its metadata), recording the handler's error.
func (t *Telemetry) WrapHandler(sub string, h worker.Handler) worker.Handler {
	name := "causeway.handle " + sub
	return func(ctx context.Context, d *worker.Delivery) (err error) {
		md := d.Event.Metadata // the propagator only reads it
		ctx = t.propagator.Extract(withDelivery(ctx, d), metadataCarrier{&md})
		ctx, span := t.tracer().Start(ctx, name,
			trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(
				attribute.String("messaging.system", "causeway"),
				attribute.String("causeway.subscription", sub),
				attribute.String("causeway.event.type", d.Event.Type),
				attribute.String("causeway.event.stream_id", d.Event.StreamID),
				attribute.String("causeway.event.id", d.Event.ID.String()),
				attribute.String("causeway.event.position", d.Event.Position.String()),
				attribute.Int("causeway.partition", d.Partition),
				attribute.Int("causeway.attempt", d.Attempt),
			))
		returned := false
		defer func() {
			switch {
			case !returned: // panicking: the worker recovers it
				span.SetStatus(codes.Error, "handler panicked")
			case err != nil:
				span.RecordError(err)
				span.SetStatus(codes.Error, err.Error())
			}
			span.End()
		}()
		err = h(ctx, d)
		returned = true
		return err
	}
}

// outcome classifies a handler's result.
func outcome(err error) string {
	var pe *worker.PanicError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &pe):
		return "panic"
	case worker.IsPermanent(err):
		return "permanent"
	}
	return "error"
}

// WorkerHooks count deliveries, retries, dead letters, halts and lease
// changes.
func (t *Telemetry) WorkerHooks() worker.Hooks {
	return worker.Hooks{
		Handled: func(ctx context.Context, d *worker.Delivery, took time.Duration, err error) {
			t.handled.Add(ctx, 1, t.attrs("subscription", d.Subscription, "outcome", outcome(err)))
			t.duration.Record(ctx, took.Seconds(), t.attrs("subscription", d.Subscription))
			if d.Attempt > 1 {
				t.retries.Add(ctx, 1, t.attrs("subscription", d.Subscription))
			}
		},
		DeadLettered: func(sub string, _ int, _ *eventlog.Event, blocked bool, _ error) {
			t.deadLettered.Add(context.Background(), 1, t.attrs("subscription", sub, "blocked", strconv.FormatBool(blocked)))
		},
		Halted: func(sub string, _ int) {
			t.halts.Add(context.Background(), 1, t.attrs("subscription", sub))
		},
		LeaseChanged: func(sub string, _ int, owned bool, reason string) {
			t.leases.Add(context.Background(), 1, t.attrs("subscription", sub, "owned", strconv.FormatBool(owned), "reason", reason))
		},
	}
}

// SagaHooks count transitions and time steps.
func (t *Telemetry) SagaHooks() saga.Hooks {
	return saga.Hooks{
		Transition: func(before, after saga.Instance, _ saga.HistoryEntry) {
			t.transitions.Add(context.Background(), 1,
				t.attrs("saga_type", after.Type, "from", string(before.Status), "to", string(after.Status)))
		},
		Step: func(sagaType, step string, phase saga.Phase, took time.Duration, err error) {
			res := "ok"
			if err != nil {
				res = "error"
			}
			t.stepDuration.Record(context.Background(), took.Seconds(),
				t.attrs("saga_type", sagaType, "step", step, "phase", string(phase), "outcome", res))
		},
	}
}

// MetricsHandler serves the metrics in the Prometheus formats.
func (t *Telemetry) MetricsHandler() http.Handler { return t.handler }

// DefaultCollectInterval is Collect's period when it is given none.
const DefaultCollectInterval = defaultCollectInterval

// Collect refreshes the gauges (lag, horizon, dead letters, saga counts,
// queues) from read until ctx ends: at once, then every interval (0: the
// default). A failing read is logged once, not at every tick, and retried.
func (t *Telemetry) Collect(ctx context.Context, interval time.Duration, read func(context.Context) (Gauges, error), logger *slog.Logger) error {
	if interval <= 0 {
		interval = defaultCollectInterval
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	failing := false
	for {
		err := t.refresh(ctx, interval, read)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			logger.Warn("causeway: refreshing metrics failed; retrying", "err", err, "every", interval)
			failing = true
		case err != nil && ctx.Err() == nil:
			logger.Debug("causeway: refreshing metrics failed", "err", err)
		case err == nil && failing:
			logger.Info("causeway: refreshing metrics works again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// refresh reads the system's status once into the gauge snapshot.
func (t *Telemetry) refresh(ctx context.Context, interval time.Duration, read func(context.Context) (Gauges, error)) error {
	ctx, cancel := context.WithTimeout(ctx, max(interval, 30*time.Second))
	defer cancel()
	st, err := read(ctx)
	if err != nil {
		return err
	}
	s := &gaugeSnapshot{sagas: st.Sagas, horizonHeld: st.HorizonHeld, queues: st.Queues}
	if st.HorizonHeld {
		s.horizonAge = st.HorizonAge.Seconds()
	}
	for _, ss := range st.Subscriptions {
		g := subGauges{name: ss.Name, lagEvents: ss.LagEvents, lagSeconds: ss.LagSeconds,
			deadLetters: int64(ss.DeadLetters), halted: ss.State == worker.StateHalted, partitions: map[string]int64{}}
		for _, p := range ss.Partitions {
			g.partitions[p.State]++
		}
		s.subs = append(s.subs, g)
	}
	t.mu.Lock()
	t.snap = s
	t.mu.Unlock()
	return nil
}

// TracerProvider is the provider Options gave, nil when the handler spans
// use the global one.
func (t *Telemetry) TracerProvider() trace.TracerProvider { return t.tracerProvider }
