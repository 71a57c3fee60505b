package runtime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/internal/obstest"
	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/projection"
	"github.com/causewayhq/causeway/runtime"
	"github.com/causewayhq/causeway/worker/queue"
)

// TestProjectionEffectsInTheRuntime: a projection's handlers Emit and
// Enqueue through the runtime's event log and queues, in the runner and
// in `replay`'s catch-up, which runs them again without doubling them.
func TestProjectionEffectsInTheRuntime(t *testing.T) {
	ctx := pgtest.Context(t, time.Minute)
	var calls atomic.Int64
	p := projection.New("fx_orders", projection.Categories("order"), projection.Retry(projection.RetryPolicy{MaxAttempts: 1}),
		projection.On(func(ctx context.Context, tx pgx.Tx, e eventlog.Envelope[cliOrder]) error {
			calls.Add(1)
			ev, err := eventlog.NewEvent("Noticed", map[string]string{"id": e.Data.ID})
			if err != nil {
				return err
			}
			if err := projection.Emit(ctx, "notices", ev); err != nil {
				return err
			}
			return projection.Enqueue(ctx, "jobs", queue.New(json.RawMessage(`{"id":"`+e.Data.ID+`"}`)))
		}))
	app := runtime.App{Name: "effects", Projections: []*projection.Projection{p}, Queues: []queue.Declaration{queue.Declare("jobs")}}
	e := apiOpen(t, app, "", runtime.Config{})
	e.run()
	for i := range 2 {
		e.append(fmt.Sprintf("order-%d", i), "Placed", cliOrder{ID: fmt.Sprint(i), Amount: 1})
	}
	effects := func() (notices int, jobs int64) {
		if err := e.r.Pool().QueryRow(ctx, `SELECT count(*) FROM `+e.schema+`.events WHERE stream_id = 'notices'`).Scan(&notices); err != nil {
			t.Fatal(err)
		}
		st, err := e.r.Queues().Stats(ctx, "jobs")
		if err != nil {
			t.Fatal(err)
		}
		return notices, st.Depth
	}
	obstest.Eventually(t, 30*time.Second, "two notices and two jobs", func() (bool, string) {
		n, j := effects()
		return n == 2 && j == 2, fmt.Sprintf("%d notices, %d jobs", n, j)
	})
	if code, out, errOut := execute(t, app, "replay", "fx_orders", "--schema="+e.schema); code != 0 {
		t.Fatalf("replay: %d %q %q", code, out, errOut)
	}
	if c := calls.Load(); c < 4 {
		t.Fatalf("handlers ran %d times; the replay should have run them again", c)
	}
	if n, j := effects(); n != 2 || j != 2 {
		t.Fatalf("after the replay: %d notices, %d jobs; want 2 and 2", n, j)
	}
	if n, err := e.r.Checkpoints.CountDeadLetters(ctx, "fx_orders"); err != nil || n != 0 {
		t.Fatalf("%d dead letters (%v)", n, err)
	}
}
