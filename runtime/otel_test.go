package runtime_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/proto"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/internal/obstest"
	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/runtime"
)

// otlpCollector is an OTLP/HTTP receiver: it decodes what exporters post
// to /v1/traces and /v1/metrics and keeps the names it saw, each with the
// service.name of its resource.
type otlpCollector struct {
	mu      sync.Mutex
	spans   []string // "service/span name"
	metrics []string // "service/metric name"
}

func (c *otlpCollector) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil || req.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "want a protobuf body", http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch req.URL.Path {
	case "/v1/traces":
		var m coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, rs := range m.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					c.spans = append(c.spans, service(rs.GetResource())+"/"+s.GetName())
				}
			}
		}
		b, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(b)
	case "/v1/metrics":
		var m colmetricpb.ExportMetricsServiceRequest
		if err := proto.Unmarshal(body, &m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, rm := range m.GetResourceMetrics() {
			for _, sm := range rm.GetScopeMetrics() {
				for _, x := range sm.GetMetrics() {
					c.metrics = append(c.metrics, service(rm.GetResource())+"/"+x.GetName())
				}
			}
		}
		b, _ := proto.Marshal(&colmetricpb.ExportMetricsServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(b)
	default:
		http.NotFound(w, req)
	}
}

func (c *otlpCollector) saw(span, metric string) (bool, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Contains(c.spans, span) && slices.Contains(c.metrics, metric),
		fmt.Sprintf("spans %q, metrics %q", c.spans, c.metrics)
}

func service(r *resourcepb.Resource) string {
	for _, kv := range r.GetAttributes() {
		if kv.GetKey() == "service.name" {
			return kv.GetValue().GetStringValue()
		}
	}
	return ""
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestRunExportsOverOTLP: `run` with the standard OTEL_* variables
// pointing at a collector exports the handlers' spans and the metrics over
// OTLP/HTTP, under OTEL_SERVICE_NAME, while /metrics keeps serving
// Prometheus.
func TestRunExportsOverOTLP(t *testing.T) {
	collector := &otlpCollector{}
	srv := httptest.NewServer(collector)
	defer srv.Close()
	t.Cleanup(func() { // run installs its exporting provider globally
		otel.SetTracerProvider(tracenoop.NewTracerProvider())
		otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator())
	})
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_SERVICE_NAME", "otlp-test")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "100")     // ms between span batches
	t.Setenv("OTEL_METRIC_EXPORT_INTERVAL", "200") // ms between metric exports

	schema, _ := pgtest.NewSchema(t)
	app := cliApp(schema)
	s := "--schema=" + schema
	if code, _, errOut := execute(t, app, "migrate", s); code != 0 {
		t.Fatalf("migrate: %d %q", code, errOut)
	}
	httpAddr := freeAddr(t)
	ctx, stop := context.WithCancel(pgtest.Context(t, time.Minute))
	defer stop()
	var errOut bytes.Buffer
	exited := make(chan int, 1)
	go func() {
		exited <- runtime.Execute(ctx, app, []string{"run", s, "--http", httpAddr, "--log-level", "error"}, io.Discard, &errOut)
	}()

	r, err := runtime.Open(ctx, app, runtime.Config{DatabaseURL: pgtest.URL(t), Schema: schema, HTTPAddr: "off", LogLevel: "error", LeaseTTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ev, _ := eventlog.NewEvent("Placed", cliOrder{ID: "1", Amount: 5})
	if _, err := r.Log.Append(ctx, "order-1", eventlog.Any, ev); err != nil {
		t.Fatal(err)
	}
	obstest.Eventually(t, 20*time.Second, "the handler's span and the metrics at the collector", func() (bool, string) {
		return collector.saw("otlp-test/causeway.handle cli_orders", "otlp-test/causeway.events.handled")
	})
	obstest.Eventually(t, 10*time.Second, "the event counted on /metrics", func() (bool, string) {
		v, ok := obstest.Value(obstest.Scrape(t, "http://"+httpAddr+"/metrics"), "causeway_events_handled_total",
			map[string]string{"subscription": "cli_orders", "outcome": "ok"})
		return ok && v == 1, fmt.Sprintf("causeway_events_handled_total %v (found %v)", v, ok)
	})
	stop()
	if code := <-exited; code != 0 {
		t.Fatalf("run exited %d: %s", code, errOut.String())
	}
}
