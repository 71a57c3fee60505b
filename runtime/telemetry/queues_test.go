package telemetry_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/causewayhq/causeway/internal/obstest"
	"github.com/causewayhq/causeway/runtime/telemetry"
	"github.com/causewayhq/causeway/worker/queue"
)

// TestQueueMetrics: the queue gauges show the collected stats of every
// queue, and QueueHandled feeds the handling histogram by queue and
// outcome.
func TestQueueMetrics(t *testing.T) {
	tel, err := telemetry.New(telemetry.Options{Service: "queue-metrics"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(tel.MetricsHandler())
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- tel.Collect(ctx, time.Hour, func(context.Context) (telemetry.Gauges, error) {
			return telemetry.Gauges{Queues: map[string]queue.Stats{
				"emails": {Depth: 7, Ready: 4, InFlight: 2, Dead: 3, OldestReadyAge: 1500 * time.Millisecond},
				"idle":   {},
			}}, nil
		}, slog.New(slog.DiscardHandler))
	}()
	t.Cleanup(func() { cancel(); <-done })

	tel.QueueHandled("emails", "acked", 20*time.Millisecond)
	tel.QueueHandled("emails", "acked", 40*time.Millisecond)
	tel.QueueHandled("emails", "retried", time.Second)

	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"causeway_queue_depth", map[string]string{"queue": "emails"}, 7},
		{"causeway_queue_ready", map[string]string{"queue": "emails"}, 4},
		{"causeway_queue_in_flight", map[string]string{"queue": "emails"}, 2},
		{"causeway_queue_dead_letters", map[string]string{"queue": "emails"}, 3},
		{"causeway_queue_oldest_ready_age_seconds", map[string]string{"queue": "emails"}, 1.5},
		{"causeway_queue_depth", map[string]string{"queue": "idle"}, 0},
		{"causeway_queue_oldest_ready_age_seconds", map[string]string{"queue": "idle"}, 0},
		{"causeway_queue_handling_duration_seconds", map[string]string{"queue": "emails", "outcome": "acked"}, 2},
		{"causeway_queue_handling_duration_seconds", map[string]string{"queue": "emails", "outcome": "retried"}, 1},
	}
	obstest.Eventually(t, 10*time.Second, "the queue metrics", func() (bool, string) {
		fams := obstest.Scrape(t, srv.URL)
		for _, c := range checks {
			if v, ok := obstest.Value(fams, c.name, c.labels); !ok || v != c.want {
				return false, fmt.Sprintf("%s%v = %v (present %v), want %v", c.name, c.labels, v, ok, c.want)
			}
		}
		return true, ""
	})
	fams := obstest.Scrape(t, srv.URL)
	for _, m := range fams["causeway_queue_handling_duration_seconds"].GetMetric() {
		h := m.GetHistogram()
		if h.GetSampleCount() == 2 && (h.GetSampleSum() < 0.059 || h.GetSampleSum() > 0.061) {
			t.Errorf("acked handling durations sum to %v s, want 0.06", h.GetSampleSum())
		}
	}
}
