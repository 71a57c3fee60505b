package runtime_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/projection"
	"github.com/causewayhq/causeway/runtime"
	"github.com/causewayhq/causeway/runtime/ops"
)

type stocked struct {
	SKU string `json:"sku"`
}

func (stocked) EventType() string { return "Stocked" }

// stockApp has one versioned projection: a row per stream with the code
// version that wrote it, read through the live schema.
func stockApp(live string, version int) runtime.App {
	p := projection.New("stock", projection.Version(version), projection.Schema(live), projection.Categories("sku"),
		projection.OnSetup(func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS stock (sku text PRIMARY KEY, n int NOT NULL, version int NOT NULL)`)
			return err
		}),
		projection.On(func(ctx context.Context, tx pgx.Tx, e eventlog.Envelope[stocked]) error {
			_, err := tx.Exec(ctx, `INSERT INTO stock VALUES ($1, 1, $2) ON CONFLICT (sku) DO UPDATE SET n = stock.n + 1, version = $2`,
				e.Event.StreamID, version)
			return err
		}))
	return runtime.App{Name: "stock", Projections: []*projection.Projection{p}}
}

// TestVersionedProjectionInTheRuntime: a runner builds a versioned
// projection's first build by itself, live at once; a runner of the next
// version, started beside it, builds that version and switches readers to
// it; an operator's rebuild (HTTP API) of the same version runs the same
// way; builds and their progress show in the API, status and the CLI; an
// abort with nothing to abort is a 404, dropping the live build a 409.
func TestVersionedProjectionInTheRuntime(t *testing.T) {
	schema, pool := pgtest.NewSchema(t)
	live := schema + "_stock"
	ctx := pgtest.Context(t, 2*time.Minute)
	e1 := apiOpen(t, stockApp(live, 1), schema, runtime.Config{MemberID: "one"})
	e1.run()
	for i := 0; i < 60; i++ {
		ev, _ := eventlog.NewEvent("Stocked", stocked{SKU: fmt.Sprint(i % 6)})
		if _, err := e1.r.Log.Append(ctx, fmt.Sprintf("sku-%d", i%6), eventlog.Any, ev); err != nil {
			t.Fatal(err)
		}
	}
	liveRead := func() (rows, events, version int) {
		_ = pool.QueryRow(ctx, `SELECT count(*), coalesce(sum(n), 0), coalesce(min(version), 0) FROM `+live+`.stock`).Scan(&rows, &events, &version)
		return
	}
	builds := func(e *apiEnv) map[int]ops.BuildView {
		var v ops.BuildListView
		e.expect("GET", "/api/projections/stock/builds", 200).decode(t, &v)
		out := map[int]ops.BuildView{}
		for _, b := range v.Builds {
			out[b.Build] = b
		}
		return out
	}
	waitUntil(t, "the first build live with every event", func() bool {
		rows, events, version := liveRead()
		return rows == 6 && events == 60 && version == 1
	})
	if b := builds(e1)[1]; b.State != "live" || b.Subscription != "stock#1" || b.Schema != live+"__b1" {
		t.Fatalf("build 1: %+v", b)
	}

	// The next version's runner, beside the first.
	e2 := apiOpen(t, stockApp(live, 2), schema, runtime.Config{MemberID: "two"})
	e2.run()
	waitUntil(t, "version 2 live", func() bool {
		bs := builds(e2)
		return bs[2].State == "live" && bs[1].State == "retired"
	})
	if b := builds(e2)[2]; !strings.HasPrefix(b.RequestedBy, "deploy: ") || b.Version != 2 || b.TotalEvents != 60 {
		t.Fatalf("build 2: %+v", b)
	}
	if rows, events, version := liveRead(); rows != 6 || events != 60 || version != 2 {
		t.Fatalf("live view after the switch: %d rows, %d events, version %d", rows, events, version)
	}

	// An operator's rebuild of the same version.
	var started ops.BuildView
	e2.expect("POST", "/api/projections/stock/rebuild", 202).decode(t, &started)
	if started.Build != 3 || started.State != "building" || started.RequestedBy != "api" {
		t.Fatalf("started: %+v", started)
	}
	e2.expect("POST", "/api/projections/stock/rebuild", 409) // one at a time
	waitUntil(t, "build 3 live", func() bool { return builds(e2)[3].State == "live" })
	e2.expect("POST", "/api/projections/stock/rebuild/abort", 404)
	e2.expect("POST", "/api/projections/stock/builds/3/drop", 409)
	e2.expect("POST", "/api/projections/nope/rebuild", 404)
	var dropped ops.BuildListView
	e2.expect("POST", "/api/projections/stock/builds/1/drop", 200).decode(t, &dropped)
	if len(dropped.Builds) != 1 || dropped.Builds[0].State != "dropped" {
		t.Fatalf("dropped: %+v", dropped)
	}
	var st ops.StatusView
	e2.expect("GET", "/api/status", 200).decode(t, &st)
	if len(st.Builds) != 3 {
		t.Fatalf("status builds: %+v", st.Builds)
	}
	for _, s := range st.Subscriptions {
		if strings.HasPrefix(s.Name, "stock#") && !s.Registered {
			t.Fatalf("subscription %s not shown as registered", s.Name)
		}
	}
	code, out, errOut := execute(t, stockApp(live, 2), "rebuild", "status", "stock", "--schema="+schema)
	if code != 0 || !strings.Contains(out, "PROJECTION") || !strings.Contains(out, live+"__b3") {
		t.Fatalf("rebuild status: %d %q %q", code, out, errOut)
	}
	// The CLI: a rebuild followed until it is live, then nothing to abort.
	code, out, errOut = execute(t, stockApp(live, 2), "rebuild", "start", "stock", "--follow", "--by=ann", "--schema="+schema)
	if code != 0 || !strings.Contains(out, "build 4 (version 2) started") || !strings.Contains(out, "build 4 is live") ||
		!strings.Contains(errOut, "rebuild stock build 4") {
		t.Fatalf("rebuild start --follow: %d %q %q", code, out, errOut)
	}
	if b := builds(e2)[4]; b.RequestedBy != "ann" || b.State != "live" {
		t.Fatalf("build 4: %+v", b)
	}
	code, out, errOut = execute(t, stockApp(live, 2), "rebuild", "abort", "stock", "--schema="+schema)
	if code != 1 || !strings.Contains(errOut, "no build in progress") {
		t.Fatalf("rebuild abort: %d %q %q", code, out, errOut)
	}
	code, out, errOut = execute(t, stockApp(live, 2), "status", "--schema="+schema)
	if code != 0 || !strings.Contains(out, "EVENTS/S") || !strings.Contains(out, live+"__b4") {
		t.Fatalf("status: %d %q %q", code, out, errOut)
	}
	code, out, errOut = execute(t, stockApp(live, 2), "replay", "stock", "--schema="+schema)
	if code != 1 || !strings.Contains(errOut, "rebuild") {
		t.Fatalf("replay of a versioned projection: %d %q %q", code, out, errOut)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
