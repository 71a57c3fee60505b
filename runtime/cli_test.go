package runtime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/internal/obstest"
	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/projection"
	"github.com/causewayhq/causeway/runtime"
	"github.com/causewayhq/causeway/saga"
)

func execute(t *testing.T, app runtime.App, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := runtime.Execute(ctx, app, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

type cliOrder struct {
	ID     string  `json:"id"`
	Amount float64 `json:"amount"`
}

func (cliOrder) EventType() string { return "Placed" }

// cliApp has a projection that dead-letters negative amounts and a saga
// whose only compensation always fails.
func cliApp(schema string) runtime.App {
	fast := saga.RetryPolicy{MaxAttempts: 1}
	p := projection.New("cli_orders", projection.Categories("order"), projection.Retry(fast),
		projection.OnSetup(func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+schema+`.cli_orders (id text PRIMARY KEY, amount numeric)`)
			return err
		}),
		projection.OnReset(func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `TRUNCATE `+schema+`.cli_orders`)
			return err
		}),
		projection.On(func(ctx context.Context, tx pgx.Tx, e eventlog.Envelope[cliOrder]) error {
			if e.Data.Amount < 0 {
				return errors.New("negative amount")
			}
			_, err := tx.Exec(ctx, `INSERT INTO `+schema+`.cli_orders VALUES ($1, $2)`, e.Data.ID, e.Data.Amount)
			return err
		}))
	d := saga.New[cliOrder]("cli_saga",
		saga.StartOn(func(ctx context.Context, e eventlog.Envelope[cliOrder]) (saga.Start[cliOrder], error) {
			return saga.Start[cliOrder]{CorrelationID: e.Data.ID, State: e.Data}, nil
		}),
		saga.Step("hold", func(ctx context.Context, sc *saga.StepContext[cliOrder]) error { return nil },
			saga.Retry(fast), saga.CompensateRetry(fast), saga.Compensate(func(ctx context.Context, sc *saga.StepContext[cliOrder]) error {
				return errors.New("cannot release")
			})),
		saga.Step("charge", func(ctx context.Context, sc *saga.StepContext[cliOrder]) error {
			return saga.Permanent(errors.New("declined"))
		}, saga.Retry(fast)),
	)
	return runtime.App{Name: "cliapp", Projections: []*projection.Projection{p}, Sagas: []saga.Saga{d}}
}

func TestCLIUsageAndErrors(t *testing.T) {
	app := cliApp("public")
	if code, out, _ := execute(t, app); code != 2 || !strings.Contains(out, "Usage: cliapp <command>") {
		t.Fatalf("no args: %d %q", code, out)
	}
	if code, out, _ := execute(t, app, "help"); code != 0 || !strings.Contains(out, "replay") || !strings.Contains(out, "sagas") {
		t.Fatalf("help: %d %q", code, out)
	}
	for _, cmd := range [][]string{{"run"}, {"migrate"}, {"status"}, {"replay"}, {"dlq", "list"}, {"dlq", "show"}, {"dlq", "retry"},
		{"dlq", "discard"}, {"sagas", "list"}, {"sagas", "show"}, {"sagas", "retry"}, {"sagas", "resume"}, {"sagas", "cancel"}, {"restamp"}, {"version"}} {
		code, out, errOut := execute(t, app, append(cmd, "--help")...)
		if code != 0 || !strings.Contains(out, "Usage: cliapp "+strings.Join(cmd, " ")) {
			t.Errorf("%v --help: %d %q %q", cmd, code, out, errOut)
		}
	}
	usage := []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"status", "--nope"}, "flag provided but not defined"},
		{[]string{"dlq"}, "want a sub-command"},
		{[]string{"dlq", "show", "sub"}, "want SUBSCRIPTION ID"},
		{[]string{"dlq", "retry", "sub", "x"}, `"x" is not a positive number`},
		{[]string{"sagas", "show", "not-a-uuid"}, "is not a saga id"},
		{[]string{"sagas", "list", "--status", "sleeping"}, `unknown status "sleeping"`},
		{[]string{"replay"}, "want exactly one projection name (registered: cli_orders)"},
		{[]string{"migrate", "extra"}, "unexpected arguments"},
		{[]string{"restamp"}, "stop every runner, then run again with --yes"},
		{[]string{"dlq", "list", "--key", "k\xff"}, "--key \"k\\xff\": not valid UTF-8"},
		{[]string{"sagas", "list", "--correlation-id", "\xc3"}, "not valid UTF-8"},
		{[]string{"dlq", "list", "--limit", "0"}, "--limit 0: want 1 or more"},
	}
	for _, u := range usage {
		code, _, errOut := execute(t, app, u.args...)
		if code != 2 || !strings.Contains(errOut, u.want) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want 2 and one line with %q", u.args, code, errOut, u.want)
		}
	}
	if code, out, _ := execute(t, app, "version"); code != 0 || !strings.HasPrefix(out, "cliapp (causeway ") {
		t.Fatalf("version: %d %q", code, out)
	}
	t.Setenv("DATABASE_URL", "")
	if code, _, errOut := execute(t, app, "status"); code != 1 || !strings.Contains(errOut, "no database: set DATABASE_URL") {
		t.Fatalf("no database: %d %q", code, errOut)
	}
}

// TestAppCommandFlags: an app's own command parsing with ParseFlags gets
// flags anywhere, --help as exit 0 and mistakes as one-line usage errors.
func TestAppCommandFlags(t *testing.T) {
	app := cliApp("public")
	var got []string
	app.Commands = []runtime.Command{{Name: "greet", Summary: "say hello", Run: func(ctx context.Context, args []string) error {
		fs := flag.NewFlagSet("greet", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		loud := fs.Bool("loud", false, "shout")
		pos, err := runtime.ParseFlags(fs, args)
		if err != nil {
			return err
		}
		got = append(pos, fmt.Sprint(*loud))
		return nil
	}}}
	if code, _, errOut := execute(t, app, "greet", "ann", "--loud", "bob"); code != 0 || strings.Join(got, ",") != "ann,bob,true" {
		t.Fatalf("greet: exit %d %q, parsed %q", code, errOut, got)
	}
	if code, _, _ := execute(t, app, "greet", "--help"); code != 0 {
		t.Fatalf("greet --help: exit %d", code)
	}
	if code, _, errOut := execute(t, app, "greet", "ann", "--nope"); code != 2 || !strings.Contains(errOut, "flag provided but not defined") {
		t.Fatalf("greet --nope: exit %d %q", code, errOut)
	}
}

func TestCLICommandsOnARunningApp(t *testing.T) {
	schema, pool := pgtest.NewSchema(t)
	app := cliApp(schema)
	s := "--schema=" + schema
	if code, out, errOut := execute(t, app, "migrate", s); code != 0 || !strings.Contains(out, "applied migrations") {
		t.Fatalf("migrate: %d %q %q", code, out, errOut)
	}
	if code, out, _ := execute(t, app, "migrate", s); code != 0 || !strings.Contains(out, "up to date") {
		t.Fatalf("migrate again: %d %q", code, out)
	}

	// Run the app in this process and give it work.
	cfg, err := runtime.ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Schema, cfg.HTTPAddr, cfg.LogLevel, cfg.LeaseTTL = schema, "off", "error", 2*time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := runtime.Open(ctx, app, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	defer func() { stop(); <-done }()
	for i, amount := range []float64{10, -5, 20} {
		ev, _ := eventlog.NewEvent("Placed", cliOrder{ID: fmt.Sprint(i), Amount: amount})
		if _, err := r.Log.Append(ctx, fmt.Sprintf("order-%d", i), eventlog.Any, ev); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var rows, dls, failed int
		_ = pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM `+schema+`.cli_orders), (SELECT count(*) FROM `+schema+`.dead_letters),
			(SELECT count(*) FROM `+schema+`.sagas WHERE status = 'failed')`).Scan(&rows, &dls, &failed)
		if rows == 2 && dls == 1 && failed == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("app did not settle: %d rows, %d dead letters, %d failed sagas", rows, dls, failed)
		}
		time.Sleep(50 * time.Millisecond)
	}

	code, out, errOut := execute(t, app, "status", s)
	if code != 0 || !strings.Contains(out, "cli_orders") || !strings.Contains(out, "dead-letters") || !strings.Contains(out, "saga:cli_saga") ||
		!strings.Contains(out, "PARTITION") || !strings.Contains(out, "horizon") {
		t.Fatalf("status: %d\n%s\n%s", code, out, errOut)
	}
	// --json prints the HTTP API's shape of each resource (snake_case).
	code, out, _ = execute(t, app, "status", s, "--json")
	if code != 0 || !strings.Contains(out, `"subscriptions"`) || !strings.Contains(out, `"lag_events"`) {
		t.Fatalf("status --json: %d %q", code, out)
	}
	sameKeys(t, "status", decodeJSON(t, out), apiJSON(t, r, "/api/status"))
	code, out, _ = execute(t, app, "dlq", "list", s, "--json")
	if code != 0 || !strings.Contains(out, `"dead_letters"`) {
		t.Fatalf("dlq list --json: %d %q", code, out)
	}
	sameKeys(t, "dlq list", decodeJSON(t, out), apiJSON(t, r, "/api/dead-letters"))
	code, out, _ = execute(t, app, "sagas", "list", s, "--json")
	if code != 0 || !strings.Contains(out, `"correlation_id"`) {
		t.Fatalf("sagas list --json: %d %q", code, out)
	}
	sameKeys(t, "sagas list", decodeJSON(t, out), apiJSON(t, r, "/api/sagas"))
	code, out, _ = execute(t, app, "dlq", "list", s, "--subscription", "cli_orders")
	if code != 0 || !strings.Contains(out, "negative amount") {
		t.Fatalf("dlq list: %d %q", code, out)
	}
	var id int64
	if err := pool.QueryRow(ctx, `SELECT id FROM `+schema+`.dead_letters`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	sid := fmt.Sprint(id)
	if code, out, _ := execute(t, app, "dlq", "show", "cli_orders", sid, s); code != 0 || !strings.Contains(out, `"error": "negative amount"`) || !strings.Contains(out, `"event"`) {
		t.Fatalf("dlq show: %d %q", code, out)
	} else {
		sameKeys(t, "dlq show", decodeJSON(t, out), apiJSON(t, r, "/api/dead-letters/cli_orders/"+sid))
	}
	if code, _, errOut := execute(t, app, "dlq", "show", "cli_orders", "99999", s); code != 1 || !strings.Contains(errOut, "not found") {
		t.Fatalf("dlq show missing: %d %q", code, errOut)
	}
	attempts := func() (n int, requested bool) {
		if err := pool.QueryRow(ctx, `SELECT attempts, retry_requested FROM `+schema+`.dead_letters WHERE id = $1`, id).Scan(&n, &requested); err != nil {
			t.Fatal(err)
		}
		return n, requested
	}
	before, _ := attempts()
	if code, out, _ := execute(t, app, "dlq", "retry", "cli_orders", sid, s); code != 0 || !strings.Contains(out, "retry requested") {
		t.Fatalf("dlq retry: %d %q", code, out)
	}
	// The partition's owner re-delivers it (and fails again) within its
	// retry poll interval: one more attempt, the request cleared.
	obstest.Eventually(t, 10*time.Second, "the requested retry", func() (bool, string) {
		n, requested := attempts()
		return n > before && !requested, fmt.Sprintf("attempts %d (before %d), retry requested %v", n, before, requested)
	})
	if code, out, _ := execute(t, app, "dlq", "discard", "cli_orders", sid, s); code != 0 || !strings.Contains(out, "discarded") {
		t.Fatalf("dlq discard: %d %q", code, out)
	}

	code, out, _ = execute(t, app, "sagas", "list", s, "--status", "failed")
	if code != 0 || strings.Count(out, "cli_saga") != 3 || !strings.Contains(out, "cannot release") {
		t.Fatalf("sagas list: %d %q", code, out)
	}
	sagaID := saga.InstanceID("cli_saga", "0").String()
	if code, out, _ := execute(t, app, "sagas", "show", sagaID, s); code != 0 || !strings.Contains(out, `"history"`) || !strings.Contains(out, "declined") {
		t.Fatalf("sagas show: %d %q", code, out)
	} else if cli, api := decodeJSON(t, out), apiJSON(t, r, "/api/sagas/"+sagaID); !reflect.DeepEqual(cli, api) {
		// A failed saga stands still: the two must be identical.
		t.Fatalf("sagas show --json differs from GET /api/sagas/{id}:\n%v\n%v", cli, api)
	}
	if code, out, _ := execute(t, app, "sagas", "cancel", sagaID, s); code != 0 || !strings.Contains(out, "is now cancelled") {
		t.Fatalf("sagas cancel: %d %q", code, out)
	}
	if code, _, errOut := execute(t, app, "sagas", "resume", sagaID, s); code != 1 || !strings.Contains(errOut, "does not apply") {
		t.Fatalf("sagas resume of cancelled: %d %q", code, errOut)
	}
	if code, out, _ := execute(t, app, "sagas", "resume", saga.InstanceID("cli_saga", "1").String(), s); code != 0 || !strings.Contains(out, "is now compensated") {
		t.Fatalf("sagas resume: %d %q", code, out)
	}
	if code, out, errOut := execute(t, app, "replay", "cli_orders", s); code != 0 || !strings.Contains(out, "projection cli_orders replayed: 3 events") {
		t.Fatalf("replay: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := execute(t, app, "replay", "nope", s); code != 1 || !strings.Contains(errOut, "not registered") {
		t.Fatalf("replay unknown: %d %q", code, errOut)
	}
	stop()
	<-done
	done <- nil
	if code, out, errOut := execute(t, app, "restamp", "--yes", s); code != 0 || !strings.Contains(out, "re-stamped 3 events") {
		t.Fatalf("restamp: %d %q %q", code, out, errOut)
	}
	if code, out, _ := execute(t, app, "status", s); code != 0 || !strings.Contains(out, "log head 1/3") {
		t.Fatalf("status after restamp: %d %q", code, out)
	}
}

// TestCLIRunStoppedWhileConnectingExitsCleanly: SIGTERM (here a cancelled
// context) while `run` is still connecting is a graceful stop: exit 0, no
// error printed — a supervisor stopping a starting process sees success.
func TestCLIRunStoppedWhileConnectingExitsCleanly(t *testing.T) {
	schema, _ := pgtest.NewSchema(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errOut bytes.Buffer
	code := runtime.Execute(ctx, cliApp(schema), []string{"run", "--schema=" + schema, "--http=off"}, &out, &errOut)
	if code != 0 || errOut.Len() > 0 {
		t.Fatalf("run stopped while connecting: exit %d, stderr %q; want 0 and nothing", code, errOut.String())
	}
}

// decodeJSON decodes a JSON object.
func decodeJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, s)
	}
	return m
}

// apiJSON is the management API's answer to GET path.
func apiJSON(t *testing.T, r *runtime.Runtime, path string) map[string]any {
	t.Helper()
	rec := httptest.NewRecorder()
	r.APIHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
	}
	return decodeJSON(t, rec.Body.String())
}

// sameKeys fails unless a and b have the same keys, recursively through
// objects and the first element of arrays: the same JSON shape.
func sameKeys(t *testing.T, what string, a, b any) {
	t.Helper()
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			t.Fatalf("%s: object %v against %v", what, a, b)
		}
		for k := range av {
			if _, ok := bv[k]; !ok {
				t.Fatalf("%s: --json has %q, the API does not: %v against %v", what, k, a, b)
			}
			sameKeys(t, what+"."+k, av[k], bv[k])
		}
		for k := range bv {
			if _, ok := av[k]; !ok {
				t.Fatalf("%s: the API has %q, --json does not: %v against %v", what, k, a, b)
			}
		}
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			t.Fatalf("%s: array %v against %v", what, a, b)
		}
		if len(av) > 0 {
			sameKeys(t, what+"[0]", av[0], bv[0])
		}
	}
}
