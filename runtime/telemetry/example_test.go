package telemetry_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/eventlog/memory"
	"github.com/causewayhq/causeway/runtime/telemetry"
	"github.com/causewayhq/causeway/worker"
)

// A worker composed by hand with the runtime's telemetry: its hooks count
// deliveries for /metrics, its middleware runs each handler in a span, and
// a ContextLogger names the event a handler's log record is about.
func Example() {
	ctx := context.Background()
	tel, err := telemetry.New(telemetry.Options{Service: "mailer"})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Text records without their time, so the example's output is fixed.
	logger := telemetry.ContextLogger(slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}})))

	log := memory.New(memory.Options{})
	defer log.Close()
	handled := make(chan struct{})
	mails := worker.NewSubscription("mails", worker.Partitions(1),
		worker.OnAny(func(ctx context.Context, d *worker.Delivery) error {
			logger.InfoContext(ctx, "mail sent") // ctx: the record gets the delivery's ids
			close(handled)
			return nil
		}))
	w, err := worker.New(worker.Config{Log: log, Checkpoints: checkpoint.NewMemory(),
		Logger: slog.New(slog.DiscardHandler), Hooks: tel.WorkerHooks(), Middleware: tel.WrapHandler}, mails)
	if err != nil {
		fmt.Println(err)
		return
	}
	e, _ := eventlog.NewEvent("MailRequested", map[string]string{"to": "ann@example.com"})
	e.ID = uuid.MustParse("9b2f4c1e-0000-4000-8000-000000000001")
	e.Metadata.CorrelationID = "signup-42"
	log.Append(ctx, "mail-1", eventlog.NoStream, e)

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	<-handled
	stop()
	<-done

	srv := httptest.NewServer(tel.MetricsHandler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	for sc := bufio.NewScanner(resp.Body); sc.Scan(); {
		if strings.HasPrefix(sc.Text(), "causeway_events_handled_total{") {
			fmt.Println(sc.Text())
		}
	}
	// Output:
	// level=INFO msg="mail sent" subscription=mails event_id=9b2f4c1e-0000-4000-8000-000000000001 correlation_id=signup-42
	// causeway_events_handled_total{outcome="ok",subscription="mails"} 1
}
