package runtime_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/internal/obstest"
	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/runtime"
)

// TestCLIHelpHidesThePassword: --help shows flag defaults, DATABASE_URL's
// among them, and must not show its password.
func TestCLIHelpHidesThePassword(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://alice:pa55-secret@db.example:5432/app?sslmode=disable")
	t.Setenv("CAUSEWAY_LISTEN_URL", "host=db.example user=alice password='pa55 secret'")
	for _, cmd := range [][]string{{"status"}, {"run"}, {"dlq", "list"}, {"sagas", "show"}, {"queues", "list"}, {"queues", "requeue"}} {
		code, out, _ := execute(t, cliApp("public"), append(cmd, "--help")...)
		if code != 0 || strings.Contains(out, "pa55") || !strings.Contains(out, "alice:xxxxx@db.example:5432") {
			t.Errorf("%v --help: exit %d, output\n%s\nwant the URL without its password", cmd, code, out)
		}
	}
}

// TestCLIRefusesUnparsableEnvironment: a value ConfigFromEnv cannot parse
// fails the command, naming the variable and the expected form, instead of
// quietly becoming the default.
func TestCLIRefusesUnparsableEnvironment(t *testing.T) {
	schema, _ := pgtest.NewSchema(t)
	app := cliApp(schema)
	if code, _, errOut := execute(t, app, "migrate", "--schema="+schema); code != 0 {
		t.Fatalf("migrate: %d %q", code, errOut)
	}
	t.Setenv("CAUSEWAY_LEASE_TTL", "10")
	code, _, errOut := execute(t, app, "status", "--schema="+schema)
	if code != 1 || !strings.Contains(errOut, `CAUSEWAY_LEASE_TTL="10"`) || !strings.Contains(errOut, "10s") {
		t.Fatalf("status with CAUSEWAY_LEASE_TTL=10: exit %d, stderr %q; want 1 naming the variable and the form", code, errOut)
	}
	if code, out, _ := execute(t, app, "status", "--help"); code != 0 || !strings.Contains(out, "Usage:") {
		t.Fatalf("--help with a broken environment: exit %d %q", code, out)
	}
}

// TestCLIExplainsAnUnmigratedSchema: the operations commands on a schema
// without Causeway's tables say to run migrate, not just "relation does
// not exist".
func TestCLIExplainsAnUnmigratedSchema(t *testing.T) {
	empty, _ := pgtest.NewSchema(t)
	app := cliApp(empty)
	for _, args := range [][]string{
		{"status", "--schema=" + empty},
		{"dlq", "list", "--schema=" + empty},
		{"sagas", "list", "--schema=" + empty},
		{"queues", "list", "--schema=" + empty},
		{"queues", "dead", "jobs", "--schema=" + empty},
		{"status", "--schema=no_such_schema"},
	} {
		code, _, errOut := execute(t, app, args...)
		if code != 1 || !strings.Contains(errOut, "run `cliapp migrate` first") {
			t.Errorf("%v: exit %d, stderr %q; want 1 and the hint to migrate", args, code, errOut)
		}
	}
}

// TestCLIListsSayWhenCut: dlq list and sagas list say when --limit cut
// the list, and how to get the next page.
func TestCLIListsSayWhenCut(t *testing.T) {
	schema, pool := pgtest.NewSchema(t)
	app := cliApp(schema)
	ctx := pgtest.Context(t, 2*time.Minute)
	r, err := runtime.Open(ctx, app, runtime.Config{DatabaseURL: pgtest.URL(t), Schema: schema, HTTPAddr: "off",
		LogLevel: "error", LeaseTTL: 2 * time.Second, SagaConcurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	defer func() { stop(); <-done }()
	for i := range 3 { // each dead-letters and fails its saga
		ev, _ := eventlog.NewEvent("Placed", cliOrder{ID: fmt.Sprint(i), Amount: -1})
		if _, err := r.Log.Append(ctx, fmt.Sprintf("order-%d", i), eventlog.Any, ev); err != nil {
			t.Fatal(err)
		}
	}
	obstest.Eventually(t, 30*time.Second, "3 dead letters and 3 failed sagas", func() (bool, string) {
		var dls, failed int
		_ = pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM `+schema+`.dead_letters),
			(SELECT count(*) FROM `+schema+`.sagas WHERE status = 'failed')`).Scan(&dls, &failed)
		return dls == 3 && failed == 3, fmt.Sprintf("%d dead letters, %d failed sagas", dls, failed)
	})
	s := "--schema=" + schema
	for _, list := range []struct {
		args []string
		what string
	}{
		{[]string{"dlq", "list"}, "dead letters"},
		{[]string{"sagas", "list"}, "saga instances"},
	} {
		code, out, errOut := execute(t, app, append(list.args, s, "--limit", "2")...)
		if code != 0 || strings.Count(out, "\n") != 3 || !strings.Contains(errOut, "showing the first 2 "+list.what) || !strings.Contains(errOut, "--after ") {
			t.Fatalf("%v --limit 2: exit %d\n%s\nstderr %q; want 2 rows and a note that more match", list.args, code, out, errOut)
		}
		after := strings.TrimSpace(errOut[strings.Index(errOut, "--after ")+len("--after "):])
		after, _, _ = strings.Cut(after, ",")
		code, out, errOut = execute(t, app, append(list.args, s, "--limit", "2", "--after", after)...)
		if code != 0 || strings.Count(out, "\n") != 2 || errOut != "" {
			t.Fatalf("%v --after %s: exit %d\n%s\nstderr %q; want the last row and no note", list.args, after, code, out, errOut)
		}
	}
}
