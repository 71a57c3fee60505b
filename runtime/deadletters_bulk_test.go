package runtime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/internal/obstest"
	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/runtime"
)

// seedDeadLetters runs cliApp until each of n orders is a dead letter of
// cli_orders (keys order-0 … order-{n-1}).
func seedDeadLetters(t *testing.T, r *runtime.Runtime, n int) {
	t.Helper()
	ctx := pgtest.Context(t, time.Minute)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })
	for i := range n {
		ev, _ := eventlog.NewEvent("Placed", cliOrder{ID: fmt.Sprint(i), Amount: -1})
		if _, err := r.Log.Append(ctx, fmt.Sprintf("order-%d", i), eventlog.Any, ev); err != nil {
			t.Fatal(err)
		}
	}
	obstest.Eventually(t, 30*time.Second, fmt.Sprintf("%d dead letters", n), func() (bool, string) {
		got, err := r.Checkpoints.CountDeadLetters(ctx, "cli_orders")
		return err == nil && got == n, fmt.Sprintf("%d, %v", got, err)
	})
}

func openCLIRuntime(t *testing.T, schema string) *runtime.Runtime {
	t.Helper()
	ctx := pgtest.Context(t, time.Minute)
	r, err := runtime.Open(ctx, cliApp(schema), runtime.Config{DatabaseURL: pgtest.URL(t), Schema: schema, HTTPAddr: "off",
		LogLevel: "error", LeaseTTL: 2 * time.Second, SagaConcurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	if _, err := r.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestCLIDeadLettersInBulk: dlq retry and discard by filter (confirmed
// with --all), who discarded, and dlq discarded.
func TestCLIDeadLettersInBulk(t *testing.T) {
	schema, _ := pgtest.NewSchema(t)
	app := cliApp(schema)
	r := openCLIRuntime(t, schema)
	seedDeadLetters(t, r, 3)
	s := "--schema=" + schema
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"dlq", "discard", "--subscription", "cli_orders", "--key", "order-0"}, 2, "confirm with --all"},
		{[]string{"dlq", "discard", "--key", "order-0", "--all"}, 2, "want SUBSCRIPTION ID, or --subscription"},
		{[]string{"dlq", "discard", "cli_orders", "1", "--key", "order-0"}, 2, "not both"},
		{[]string{"dlq", "retry", "--subscription", "cli_orders", "--failed-after", "yesterday", "--all"}, 2, "RFC 3339"},
		{[]string{"dlq", "retry", "--subscription", "cli_orders", "--failed-after", "2030-01-01T00:00:00Z",
			"--failed-before", "2029-01-01T00:00:00Z", "--all"}, 2, "not before"},
		{[]string{"dlq", "discard", "--subscription", "nope", "--all"}, 1, "not found"},
		{[]string{"dlq", "discarded"}, 2, "want a SUBSCRIPTION"},
		{[]string{"dlq", "discarded", "nope"}, 1, "not found"},
	} {
		code, _, errOut := execute(t, app, append(c.args, s)...)
		if code != c.code || !strings.Contains(errOut, c.msg) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, errOut, c.code, c.msg)
		}
	}
	if n, _ := r.Checkpoints.CountDeadLetters(pgtest.Context(t, time.Minute), "cli_orders"); n != 3 {
		t.Fatalf("refused commands changed the dead letters: %d left", n)
	}

	code, out, errOut := execute(t, app, "dlq", "discard", "--subscription", "cli_orders", "--key", "order-0", "--all", "--by", "alice", s)
	if code != 0 || !strings.Contains(out, "1 dead letters of cli_orders discarded by alice") {
		t.Fatalf("bulk discard: exit %d %q %q", code, out, errOut)
	}
	var res struct {
		Subscription string `json:"subscription"`
		Action       string `json:"action"`
		DeadLetters  int    `json:"dead_letters"`
		Keys         int    `json:"keys"`
	}
	code, out, errOut = execute(t, app, "dlq", "retry", "--subscription", "cli_orders", "--error", "NEGATIVE", "--type", "Placed", "--all", "--json", s)
	if code != 0 {
		t.Fatalf("bulk retry: exit %d %q", code, errOut)
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Action != "retry" || res.Keys != 2 || res.DeadLetters != 2 {
		t.Fatalf("bulk retry: %+v, %v (%s)", res, err, out)
	}

	// One more, by id, recorded as whoever runs the command.
	dls, _ := r.Checkpoints.DeadLetters(pgtest.Context(t, time.Minute), checkpoint.DeadLetterQuery{Subscription: "cli_orders", Key: "order-1"})
	if len(dls) != 1 {
		t.Fatalf("order-1's dead letters %+v", dls)
	}
	if code, out, errOut := execute(t, app, "dlq", "discard", "cli_orders", fmt.Sprint(dls[0].ID), s); code != 0 || !strings.Contains(out, "discarded by ") {
		t.Fatalf("discard by id: exit %d %q %q", code, out, errOut)
	}

	var list struct {
		Discarded []struct {
			Key         string `json:"key"`
			EventID     string `json:"event_id"`
			DiscardedBy string `json:"discarded_by"`
			DiscardedAt string `json:"discarded_at"`
		} `json:"discarded"`
		NextAfter *int64 `json:"next_after"`
	}
	code, out, errOut = execute(t, app, "dlq", "discarded", "cli_orders", "--json", s)
	if code != 0 {
		t.Fatalf("dlq discarded: exit %d %q", code, errOut)
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Discarded) != 2 || list.NextAfter != nil {
		t.Fatalf("discarded: %+v, %v", list, err)
	}
	if d := list.Discarded[0]; d.Key != "order-0" || d.DiscardedBy != "alice" || d.DiscardedAt == "" {
		t.Errorf("first discard %+v", d)
	}
	if d := list.Discarded[1]; d.Key != "order-1" || d.DiscardedBy == "" || d.DiscardedBy == "unknown" {
		t.Errorf("second discard %+v", d)
	}
	code, out, errOut = execute(t, app, "dlq", "discarded", "cli_orders", "--limit", "1", s)
	if code != 0 || strings.Count(out, "\n") != 2 || !strings.Contains(out, "alice") || !strings.Contains(errOut, "showing the first 1 discarded events") {
		t.Fatalf("dlq discarded --limit 1: exit %d\n%s\nstderr %q", code, out, errOut)
	}
}

// TestAPIDeadLettersInBulk: POST /api/dead-letters/retry and /discard
// with a JSON filter, the actor header, and GET /api/dead-letters/discarded.
func TestAPIDeadLettersInBulk(t *testing.T) {
	schema, _ := pgtest.NewSchema(t)
	e := apiOpen(t, cliApp(schema), schema, runtime.Config{APIToken: apiTestToken})
	seedDeadLetters(t, e.r, 3)
	post := func(path, body, actor string, code int) apiResp {
		t.Helper()
		req, err := http.NewRequest("POST", e.url+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+e.token)
		req.Header.Set("Content-Type", "application/json")
		if actor != "" {
			req.Header.Set("X-Causeway-Actor", actor)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != code {
			t.Fatalf("POST %s %s: status %d, want %d: %s", path, body, resp.StatusCode, code, b)
		}
		return apiResp{code: resp.StatusCode, header: resp.Header, body: b}
	}
	for _, bad := range []struct {
		body string
		code int
	}{
		{``, http.StatusBadRequest},
		{`{}`, http.StatusBadRequest},
		{`{"subscription": "cli_orders", "bogus": 1}`, http.StatusBadRequest},
		{`{"subscription": "cli_orders", "failed_after": "yesterday"}`, http.StatusBadRequest},
		{`{"subscription": "cli_orders", "partition": -1}`, http.StatusBadRequest},
		{`{"subscription": "has space"}`, http.StatusBadRequest},
		{`{"subscription": "nope"}`, http.StatusNotFound},
	} {
		post("/api/dead-letters/discard", bad.body, "", bad.code)
		post("/api/dead-letters/retry", bad.body, "", bad.code)
	}

	type bulk struct {
		Subscription string `json:"subscription"`
		Action       string `json:"action"`
		DeadLetters  int    `json:"dead_letters"`
		Keys         int    `json:"keys"`
		By           string `json:"by"`
	}
	var res bulk
	post("/api/dead-letters/discard", `{"subscription": "cli_orders", "key": "order-0"}`, "bob", http.StatusOK).decode(t, &res)
	if res != (bulk{Subscription: "cli_orders", Action: "discard", DeadLetters: 1, By: "bob"}) {
		t.Fatalf("bulk discard %+v", res)
	}
	res = bulk{}
	post("/api/dead-letters/retry", `{"subscription": "cli_orders", "error_contains": "negative", "type": "Placed",
		"failed_before": "2999-01-01T00:00:00Z"}`, "", http.StatusAccepted).decode(t, &res)
	if res != (bulk{Subscription: "cli_orders", Action: "retry", DeadLetters: 2, Keys: 2}) {
		t.Fatalf("bulk retry %+v", res)
	}
	dls := e.deadLetters("cli_orders")
	if len(dls) != 2 {
		t.Fatalf("dead letters %+v", dls)
	}
	e.expect("POST", fmt.Sprintf("/api/dead-letters/cli_orders/%d/discard", dls[0].ID), http.StatusOK)

	var list struct {
		Discarded []struct {
			Key         string `json:"key"`
			DiscardedBy string `json:"discarded_by"`
		} `json:"discarded"`
		NextAfter *int64 `json:"next_after"`
	}
	e.expect("GET", "/api/dead-letters/discarded?subscription=cli_orders", http.StatusOK).decode(t, &list)
	if len(list.Discarded) != 2 || list.Discarded[0].Key != "order-0" || list.Discarded[0].DiscardedBy != "bob" ||
		list.Discarded[1].DiscardedBy != "api" {
		t.Fatalf("discarded %+v", list)
	}
	e.expect("GET", "/api/dead-letters/discarded?subscription=cli_orders&limit=1", http.StatusOK).decode(t, &list)
	if len(list.Discarded) != 1 || list.NextAfter == nil {
		t.Fatalf("first page %+v", list)
	}
	e.expect("GET", fmt.Sprintf("/api/dead-letters/discarded?subscription=cli_orders&after=%d", *list.NextAfter), http.StatusOK).decode(t, &list)
	if len(list.Discarded) != 1 || list.Discarded[0].DiscardedBy != "api" {
		t.Fatalf("second page %+v", list)
	}
	e.expect("GET", "/api/dead-letters/discarded", http.StatusBadRequest)
	e.expect("GET", "/api/dead-letters/discarded?subscription=nope", http.StatusNotFound)
}
