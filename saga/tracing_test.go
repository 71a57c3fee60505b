package saga_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/saga"
)

// syncBuffer is a bytes.Buffer safe for the executor's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// records returns the JSON log records written so far.
func (s *syncBuffer) records(t *testing.T) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(s.b.Bytes()), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

type traced struct {
	Order    string `json:"order"`
	CompFail bool   `json:"comp_fail"`
}

// TestStepSpansAndLogs: each step and compensation attempt is a span in the
// trace of the event that started the saga (a child of the span stored in
// its metadata), events a step emits continue that trace, and the log
// records of a failed step, a compensation and a dead saga carry the saga's
// correlation id and the trace id.
func TestStepSpansAndLogs(t *testing.T) {
	e := newPGEnv(t)
	const (
		traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		spanID  = "00f067aa0ba902b7"
	)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	var logs syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))

	fast := saga.RetryPolicy{MaxAttempts: 1, InitialBackoff: time.Millisecond}
	d := saga.New[traced]("traced",
		saga.StartOnType("OrderPlaced", func(ctx context.Context, e eventlog.Envelope[traced]) (saga.Start[traced], error) {
			return saga.Start[traced]{CorrelationID: e.Data.Order, State: e.Data}, nil
		}),
		saga.Step("reserve", func(ctx context.Context, sc *saga.StepContext[traced]) error {
			ev, _ := eventlog.NewEvent("StockReserved", map[string]string{"order": sc.State.Order})
			sc.Emit("stock-"+sc.State.Order, eventlog.Any, ev)
			return nil
		}, saga.Retry(fast), saga.CompensateRetry(fast), saga.Compensate(func(ctx context.Context, sc *saga.StepContext[traced]) error {
			if sc.State.CompFail {
				return errors.New("warehouse down")
			}
			return nil
		})),
		saga.Step("ship", func(ctx context.Context, sc *saga.StepContext[traced]) error {
			return saga.Permanent(errors.New("no courier"))
		}, saga.Retry(fast)),
	)

	for _, o := range []traced{{Order: "o1"}, {Order: "o2", CompFail: true}} {
		ev, _ := eventlog.NewEvent("OrderPlaced", o)
		ev.Metadata.TraceParent = "00-" + traceID + "-" + spanID + "-01"
		if _, err := e.log.Append(ctxT(t), "order-"+o.Order, eventlog.Any, ev); err != nil {
			t.Fatal(err)
		}
	}
	r := e.run(t, d, "x", func(c *saga.ExecutorConfig) { c.TracerProvider, c.Logger = tp, logger })
	o1 := e.waitStatus(t, saga.InstanceID("traced", "o1"), 20*time.Second, saga.StatusCompensated)
	e.waitStatus(t, saga.InstanceID("traced", "o2"), 20*time.Second, saga.StatusFailed)
	r.stop() // every outcome logged, every span ended
	if o1.TraceParent != "00-"+traceID+"-"+spanID+"-01" {
		t.Errorf("instance keeps trace parent %q", o1.TraceParent)
	}

	// Spans: reserve, ship, compensate reserve, for each saga.
	var names []string
	spans := map[string]trace.SpanID{}
	for _, s := range rec.Ended() {
		corr := ""
		for _, a := range s.Attributes() {
			if a.Key == "causeway.saga.correlation_id" {
				corr = a.Value.AsString()
			}
		}
		names = append(names, corr+" "+s.Name())
		if s.SpanContext().TraceID().String() != traceID || s.Parent().SpanID().String() != spanID {
			t.Errorf("span %q: trace %s parent %s; want a child of %s/%s", s.Name(), s.SpanContext().TraceID(), s.Parent().SpanID(), traceID, spanID)
		}
		spans[corr+" "+s.Name()] = s.SpanContext().SpanID()
	}
	for _, want := range []string{
		"o1 causeway.saga.action traced/reserve", "o1 causeway.saga.action traced/ship", "o1 causeway.saga.compensation traced/reserve",
		"o2 causeway.saga.action traced/reserve", "o2 causeway.saga.action traced/ship", "o2 causeway.saga.compensation traced/reserve",
	} {
		if _, ok := spans[want]; !ok {
			t.Errorf("no span %q; spans: %v", want, names)
		}
	}
	// The emitted event continues the trace, from the step's span.
	for ev, err := range e.log.ReadStream(ctxT(t), "stock-o1", eventlog.ReadStreamOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		want := "00-" + traceID + "-" + spans["o1 causeway.saga.action traced/reserve"].String() + "-01"
		if ev.Metadata.TraceParent != want {
			t.Errorf("emitted event's traceparent %q, want %q", ev.Metadata.TraceParent, want)
		}
	}

	// Logs: the failed step, the compensation and the dead saga, each with
	// the correlation id and the trace id.
	want := map[string]bool{
		"o1 causeway: saga step failed":                  false,
		"o1 causeway: saga compensating":                 false,
		"o1 causeway: saga compensated":                  false,
		"o2 causeway: saga failed; an operator must act": false,
	}
	for _, r := range logs.records(t) {
		msg, _ := r["msg"].(string)
		corr, _ := r["correlation_id"].(string)
		if !strings.HasPrefix(msg, "causeway: saga") {
			continue
		}
		if r["trace_id"] != traceID {
			t.Errorf("log record %v has no trace id %s", r, traceID)
		}
		if _, ok := want[corr+" "+msg]; ok {
			want[corr+" "+msg] = true
		}
	}
	for k, seen := range want {
		if !seen {
			t.Errorf("no log record %q; logs:\n%s", k, logs.b.String())
		}
	}
}
