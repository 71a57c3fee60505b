package telemetry_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	pgstore "github.com/causewayhq/causeway/eventlog/postgres"
	"github.com/causewayhq/causeway/internal/obstest"
	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/runtime/telemetry"
	"github.com/causewayhq/causeway/saga"
	"github.com/causewayhq/causeway/worker"
)

// obsStore is a fresh schema with an event store whose appends are
// enriched by tel, and a checkpoint store.
func obsStore(t *testing.T, tel *telemetry.Telemetry) (*pgstore.Store, *checkpoint.PostgresStore) {
	t.Helper()
	schema, pool := pgtest.NewMigratedSchema(t)
	log, err := pgstore.New(pool, pgstore.Config{Schema: schema, Enrich: tel.Enrich})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(log.Close)
	cps, err := checkpoint.NewPostgres(pool, schema)
	if err != nil {
		t.Fatal(err)
	}
	return log, cps
}

// obsRunWorker runs w until the test ends.
func obsRunWorker(t *testing.T, w *worker.Worker) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("worker: %v", err)
		}
	})
}

func obsAttrs(kvs []attribute.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	return m
}

// TestTraceContinuesFromAppender: an event appended inside a span carries
// its W3C context, and the handler runs in a consumer span that is a child
// of the appender's span.
func TestTraceContinuesFromAppender(t *testing.T) {
	ctx := pgtest.Context(t, 2*time.Minute)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	tel, err := telemetry.New(telemetry.Options{Service: "trace-test", TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	log, cps := obsStore(t, tel)

	type seen struct {
		sc    trace.SpanContext
		event eventlog.Event
	}
	got := make(chan seen, 10)
	handler := func(ctx context.Context, d *worker.Delivery) error {
		got <- seen{trace.SpanContextFromContext(ctx), d.Event}
		if d.Event.Type == "OrderRejected" {
			return worker.Permanent(errors.New("cannot handle a rejection"))
		}
		return nil
	}
	w, err := worker.New(worker.Config{Log: log, Checkpoints: cps, LeaseTTL: 2 * time.Second, Hooks: tel.WorkerHooks()},
		worker.NewSubscription("traced", worker.Partitions(1), worker.OnAny(tel.WrapHandler("traced", handler))))
	if err != nil {
		t.Fatal(err)
	}
	obsRunWorker(t, w)

	actx, parent := tp.Tracer("test").Start(ctx, "place order")
	placed, _ := eventlog.NewEvent("OrderPlaced", map[string]int{"n": 1})
	res, err := log.Append(actx, "order-1", eventlog.NoStream, placed)
	parent.End()
	if err != nil {
		t.Fatal(err)
	}

	// The stored event carries the appender's context. Reads of the log
	// stop at the horizon, which other tests' open transactions on the same
	// server may hold back for a moment: wait for the event to show.
	var stored eventlog.Event
	obstest.Eventually(t, 10*time.Second, "the appended event readable", func() (bool, string) {
		e, found, err := eventlog.ReadAt(ctx, log, res.Positions[0])
		if err != nil {
			t.Fatalf("read back: %v", err)
		}
		stored = e
		return found, "not visible yet"
	})
	psc := parent.SpanContext()
	want := fmt.Sprintf("00-%s-%s-01", psc.TraceID(), psc.SpanID())
	if stored.Metadata.TraceParent != want {
		t.Fatalf("traceparent = %q, want %q", stored.Metadata.TraceParent, want)
	}

	var s seen
	select {
	case s = <-got:
	case <-ctx.Done():
		t.Fatal("handler never ran")
	}
	if s.sc.TraceID() != psc.TraceID() {
		t.Fatalf("handler trace id = %s, want the appender's %s", s.sc.TraceID(), psc.TraceID())
	}
	var span sdktrace.ReadOnlySpan
	obstest.Eventually(t, 10*time.Second, "the handler's span to end", func() (bool, string) {
		for _, sp := range rec.Ended() {
			if sp.SpanContext().SpanID() == s.sc.SpanID() {
				span = sp
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d spans ended", len(rec.Ended()))
	})
	if span.Name() != "causeway.handle traced" || span.SpanKind() != trace.SpanKindConsumer {
		t.Errorf("span %q kind %v, want causeway.handle traced, consumer", span.Name(), span.SpanKind())
	}
	if span.Parent().SpanID() != psc.SpanID() || span.Parent().TraceID() != psc.TraceID() || !span.Parent().IsRemote() {
		t.Errorf("span parent = %v/%v (remote %v), want the appender's span %v/%v",
			span.Parent().TraceID(), span.Parent().SpanID(), span.Parent().IsRemote(), psc.TraceID(), psc.SpanID())
	}
	attrs := obsAttrs(span.Attributes())
	for k, v := range map[string]string{
		"causeway.subscription":    "traced",
		"causeway.event.type":      "OrderPlaced",
		"causeway.event.stream_id": "order-1",
		"causeway.event.id":        res.IDs[0].String(),
		"causeway.partition":       "0",
		"causeway.attempt":         "1",
	} {
		if attrs[k] != v {
			t.Errorf("span attribute %s = %q, want %q (all: %v)", k, attrs[k], v, attrs)
		}
	}
	if span.Status().Code == codes.Error {
		t.Errorf("successful handler's span has status %v", span.Status())
	}

	// A failing handler's span records the error; an event appended with no
	// span, or with its own trace context, is left alone.
	rejected, _ := eventlog.NewEvent("OrderRejected", map[string]int{"n": 2})
	own := eventlog.EventData{Type: "OrderPlaced", Data: []byte(`{"n":3}`),
		Metadata: eventlog.Metadata{TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}
	actx, parent2 := tp.Tracer("test").Start(ctx, "reject order")
	res2, err := log.Append(actx, "order-2", eventlog.NoStream, rejected, own)
	parent2.End()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := log.Append(ctx, "order-3", eventlog.NoStream, placed); err != nil {
		t.Fatal(err)
	}
	obstest.Eventually(t, 20*time.Second, "the failing handler's span", func() (bool, string) {
		for _, sp := range rec.Ended() {
			if obsAttrs(sp.Attributes())["causeway.event.id"] == res2.IDs[0].String() && sp.Status().Code == codes.Error {
				if sp.Parent().SpanID() != parent2.SpanContext().SpanID() {
					t.Errorf("failing span's parent = %v, want %v", sp.Parent().SpanID(), parent2.SpanContext().SpanID())
				}
				for _, ev := range sp.Events() {
					if ev.Name == "exception" {
						return true, ""
					}
				}
				return false, "error span without an exception event"
			}
		}
		return false, fmt.Sprintf("%d spans ended", len(rec.Ended()))
	})
	for range 20 { // the rejected event, then the parked one and order-3 (several attempts possible)
		var s seen
		select {
		case s = <-got:
		case <-ctx.Done():
			t.Fatal("handler never saw order-3")
		}
		switch s.event.StreamID {
		case "order-3":
			if s.sc.TraceID() == psc.TraceID() || s.sc.TraceID() == parent2.SpanContext().TraceID() {
				t.Errorf("an event appended outside any span continued another trace")
			}
			if s.event.Metadata.TraceParent != "" {
				t.Errorf("event appended outside any span got traceparent %q", s.event.Metadata.TraceParent)
			}
			return
		case "order-2":
			if s.event.ID == res2.IDs[1] && s.event.Metadata.TraceParent != own.Metadata.TraceParent {
				t.Errorf("caller's traceparent replaced: %q", s.event.Metadata.TraceParent)
			}
		}
	}
	t.Fatal("order-3 never handled")
}

// TestWorkerMetrics runs a worker with the telemetry's hooks and reads the
// counters back from the Prometheus endpoint.
func TestWorkerMetrics(t *testing.T) {
	ctx := pgtest.Context(t, 2*time.Minute)
	tel, err := telemetry.New(telemetry.Options{Service: "metrics-test"})
	if err != nil {
		t.Fatal(err)
	}
	log, cps := obsStore(t, tel)
	srv := httptest.NewServer(tel.MetricsHandler())
	t.Cleanup(srv.Close)

	failedOnce := map[string]bool{} // only touched by the flaky partition's goroutine
	fast := worker.RetryPolicy{MaxAttempts: 3, InitialBackoff: 5 * time.Millisecond, MaxBackoff: 10 * time.Millisecond}
	onlyM := eventlog.Filter{Categories: []string{"m"}}
	badIsPermanent := func(_ context.Context, d *worker.Delivery) error {
		if d.Event.Type == "Bad" {
			return worker.Permanent(errors.New("bad event"))
		}
		return nil
	}
	subs := []worker.Subscription{
		worker.NewSubscription("metrics_ok", worker.Filter(onlyM), worker.Partitions(1), worker.OnAny(func(context.Context, *worker.Delivery) error { return nil })),
		worker.NewSubscription("metrics_flaky",
			worker.Filter(onlyM),
			worker.Partitions(1),
			worker.Retry(fast),
			worker.OnAny(func(_ context.Context, d *worker.Delivery) error {
				if !failedOnce[d.Event.ID.String()] {
					failedOnce[d.Event.ID.String()] = true
					return errors.New("flaky")
				}
				return nil
			}),
		),
		worker.NewSubscription("metrics_bad", worker.Filter(onlyM), worker.Partitions(1), worker.Retry(fast), worker.OnAny(badIsPermanent)),
		// One dead letter at most: the second bad event halts the partition.
		worker.NewSubscription("metrics_capped",
			worker.Filter(eventlog.Filter{Categories: []string{"cap"}}),
			worker.Partitions(1),
			worker.Retry(fast),
			worker.MaxDeadLetters(1),
			worker.OnAny(badIsPermanent),
		),
	}
	w, err := worker.New(worker.Config{Log: log, Checkpoints: cps, LeaseTTL: 2 * time.Second, Hooks: tel.WorkerHooks()}, subs...)
	if err != nil {
		t.Fatal(err)
	}
	obsRunWorker(t, w)

	good, _ := eventlog.NewEvent("Good", map[string]int{"n": 1})
	bad, _ := eventlog.NewEvent("Bad", map[string]int{"n": 2})
	if _, err := log.Append(ctx, "m-1", eventlog.NoStream, good, good, good, good, good); err != nil {
		t.Fatal(err)
	}
	// The Good after the Bad is parked behind it (same key): a blocked dead letter.
	if _, err := log.Append(ctx, "m-2", eventlog.NoStream, bad, good); err != nil {
		t.Fatal(err)
	}

	if _, err := log.Append(ctx, "cap-1", eventlog.NoStream, bad); err != nil {
		t.Fatal(err)
	}
	if _, err := log.Append(ctx, "cap-2", eventlog.NoStream, bad); err != nil {
		t.Fatal(err)
	}

	// Saga hooks, called as the executor would.
	sh := tel.SagaHooks()
	sh.Transition(saga.Instance{Type: "trip", Status: saga.StatusRunning}, saga.Instance{Type: "trip", Status: saga.StatusCompensating}, saga.HistoryEntry{})
	sh.Step("trip", "book", saga.PhaseAction, 20*time.Millisecond, errors.New("no seats"))

	type series struct {
		name    string
		labels  map[string]string
		want    float64
		atLeast bool // a failure inside a batch re-delivers the good events before it
	}
	checks := []series{
		{"causeway_events_handled_total", map[string]string{"subscription": "metrics_ok", "outcome": "ok"}, 7, false},
		{"causeway_handler_duration_seconds", map[string]string{"subscription": "metrics_ok"}, 7, false},
		{"causeway_events_handled_total", map[string]string{"subscription": "metrics_flaky", "outcome": "error"}, 7, false},
		{"causeway_events_handled_total", map[string]string{"subscription": "metrics_flaky", "outcome": "ok"}, 7, false},
		{"causeway_retries_total", map[string]string{"subscription": "metrics_flaky"}, 7, false},
		{"causeway_events_handled_total", map[string]string{"subscription": "metrics_bad", "outcome": "ok"}, 5, true},
		{"causeway_events_handled_total", map[string]string{"subscription": "metrics_bad", "outcome": "permanent"}, 1, true},
		{"causeway_events_dead_lettered_total", map[string]string{"subscription": "metrics_bad", "blocked": "false"}, 1, false},
		{"causeway_events_dead_lettered_total", map[string]string{"subscription": "metrics_bad", "blocked": "true"}, 1, false},
		{"causeway_lease_changes_total", map[string]string{"subscription": "metrics_ok", "owned": "true", "reason": "claimed"}, 1, false},
		{"causeway_events_dead_lettered_total", map[string]string{"subscription": "metrics_capped", "blocked": "false"}, 1, false},
		{"causeway_partition_halts_total", map[string]string{"subscription": "metrics_capped"}, 1, false},
		{"causeway_saga_transitions_total", map[string]string{"saga_type": "trip", "from": "running", "to": "compensating"}, 1, false},
		{"causeway_saga_step_duration_seconds", map[string]string{"saga_type": "trip", "step": "book", "phase": "action", "outcome": "error"}, 1, false},
	}
	var fams map[string]*dto.MetricFamily
	obstest.Eventually(t, 30*time.Second, "the expected metrics", func() (bool, string) {
		fams = obstest.Scrape(t, srv.URL)
		for _, c := range checks {
			v, ok := obstest.Value(fams, c.name, c.labels)
			if !ok || v != c.want && !(c.atLeast && v > c.want) {
				return false, fmt.Sprintf("%s%v = %v (present %v), want %v", c.name, c.labels, v, ok, c.want)
			}
		}
		return true, ""
	})
	if _, ok := obstest.Value(fams, "causeway_retries_total", map[string]string{"subscription": "metrics_ok"}); ok {
		t.Error("retries counted for a subscription that never failed")
	}
	if f := fams["causeway_handler_duration_seconds"]; f.GetType() != dto.MetricType_HISTOGRAM {
		t.Errorf("handler duration is a %v, want a histogram", f.GetType())
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
	if v, ok := obstest.Value(fams, "target_info", map[string]string{"service_name": "metrics-test"}); !ok || v != 1 {
		t.Errorf("target_info with service_name: %v %v", v, ok)
	}
	// A second telemetry has its own registry: nothing leaks between them.
	other, err := telemetry.New(telemetry.Options{Service: "other"})
	if err != nil {
		t.Fatal(err)
	}
	srv2 := httptest.NewServer(other.MetricsHandler())
	t.Cleanup(srv2.Close)
	if _, ok := obstest.Value(obstest.Scrape(t, srv2.URL), "causeway_events_handled_total", nil); ok {
		t.Error("a fresh telemetry reports another one's deliveries")
	}
}
