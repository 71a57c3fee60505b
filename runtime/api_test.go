package runtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/internal/obstest"
	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/projection"
	"github.com/causewayhq/causeway/runtime"
	"github.com/causewayhq/causeway/saga"
	"github.com/causewayhq/causeway/worker"
)

const apiTestToken = "test-token-0123456789"

// apiEnv is a runtime and an HTTP server on its management API.
type apiEnv struct {
	t      *testing.T
	r      *runtime.Runtime
	url    string
	token  string
	schema string
}

type apiResp struct {
	code   int
	header http.Header
	body   []byte
}

func (r apiResp) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// apiOpen opens a runtime on schema (a fresh one when empty).
func apiOpen(t *testing.T, app runtime.App, schema string, cfg runtime.Config) *apiEnv {
	t.Helper()
	ctx := pgtest.Context(t, time.Minute)
	if schema == "" {
		schema, _ = pgtest.NewSchema(t)
	}
	cfg.DatabaseURL, cfg.Schema = pgtest.URL(t), schema
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = "off"
	}
	if cfg.LogLevel == "" {
		cfg.LogLevel = "error"
	}
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = 2 * time.Second
	}
	if cfg.ReadyMaxLag == 0 {
		cfg.ReadyMaxLag = 10_000
	}
	if cfg.ReadyMaxHorizon == 0 {
		cfg.ReadyMaxHorizon = time.Minute
	}
	if cfg.SagaConcurrency == 0 {
		cfg.SagaConcurrency = 4
	}
	r, err := runtime.Open(ctx, app, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	if _, err := r.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r.APIHandler())
	t.Cleanup(srv.Close)
	return &apiEnv{t: t, r: r, url: srv.URL, token: cfg.APIToken, schema: schema}
}

// run runs the runtime until the test ends.
func (e *apiEnv) run() {
	e.r.SetMetricsInterval(100 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.r.Run(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			e.t.Errorf("Run: %v", err)
		}
	})
}

// call makes a request with the env's token (auth overrides the
// Authorization header; "-" sends none).
func (e *apiEnv) call(method, path string, auth ...string) apiResp {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	switch {
	case len(auth) > 0 && auth[0] != "-":
		req.Header.Set("Authorization", auth[0])
	case len(auth) == 0 && e.token != "":
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return apiResp{code: resp.StatusCode, header: resp.Header, body: body}
}

// expect makes a request and checks its status (and, for errors, the JSON
// error body).
func (e *apiEnv) expect(method, path string, code int, auth ...string) apiResp {
	e.t.Helper()
	r := e.call(method, path, auth...)
	if r.code != code {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.code, code, r.body)
	}
	if path != "/metrics" && !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		e.t.Fatalf("%s %s: content type %q", method, path, r.header.Get("Content-Type"))
	}
	if code >= 400 {
		var v struct{ Error string }
		r.decode(e.t, &v)
		if v.Error == "" {
			e.t.Fatalf("%s %s: error response without a message: %s", method, path, r.body)
		}
	}
	return r
}

// The test app: a projection that dead-letters bad orders until fixed, and
// a checkout saga whose second step always fails and whose compensation
// fails until fixed.
type orderData struct {
	ID  string `json:"id"`
	Bad bool   `json:"bad,omitempty"`
}

type checkoutState struct {
	ID string `json:"id"`
}

type apiTestApp struct {
	handled   atomic.Int64
	fixed     atomic.Bool
	compFixed atomic.Bool
}

func (a *apiTestApp) app() runtime.App {
	p := projection.New("api_orders", projection.Categories("order"), projection.Partitions(2),
		projection.OnType("OrderPlaced", func(_ context.Context, _ pgx.Tx, e eventlog.Envelope[orderData]) error {
			if e.Data.Bad && !a.fixed.Load() {
				return projection.Permanent(errors.New("bad order"))
			}
			a.handled.Add(1)
			return nil
		}))
	s := saga.New[checkoutState]("api_checkout",
		saga.StartOnType("CheckoutStarted", func(_ context.Context, e eventlog.Envelope[orderData]) (saga.Start[checkoutState], error) {
			return saga.Start[checkoutState]{CorrelationID: e.Data.ID, State: checkoutState{ID: e.Data.ID}}, nil
		}),
		saga.Step("reserve", func(context.Context, *saga.StepContext[checkoutState]) error { return nil },
			saga.Compensate(func(context.Context, *saga.StepContext[checkoutState]) error {
				if a.compFixed.Load() {
					return nil
				}
				return saga.Permanent(errors.New("cannot release the reservation"))
			})),
		saga.Step("charge", func(context.Context, *saga.StepContext[checkoutState]) error {
			return saga.Permanent(errors.New("card declined"))
		}),
	)
	return runtime.App{Name: "api-test", Projections: []*projection.Projection{p}, Sagas: []saga.Saga{s}}
}

func (e *apiEnv) append(stream, typ string, v any) {
	e.t.Helper()
	ev, err := eventlog.NewEvent(typ, v)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.r.Log.Append(pgtest.Context(e.t, time.Minute), stream, eventlog.Any, ev); err != nil {
		e.t.Fatal(err)
	}
}

// JSON shapes the tests read.
type (
	apiSub struct {
		Name        string `json:"name"`
		Registered  bool   `json:"registered"`
		State       string `json:"state"`
		Head        string `json:"head"`
		LagEvents   int64  `json:"lag_events"`
		DeadLetters int    `json:"dead_letters"`
		Members     []struct {
			ID string `json:"id"`
		} `json:"members"`
		Partitions []struct {
			Partition  int    `json:"partition"`
			Owner      string `json:"owner"`
			Checkpoint string `json:"checkpoint"`
			State      string `json:"state"`
		} `json:"partitions"`
	}
	apiDeadLetter struct {
		ID           int64  `json:"id"`
		Subscription string `json:"subscription"`
		Key          string `json:"key"`
		Type         string `json:"type"`
		Position     string `json:"position"`
		Error        string `json:"error"`
		Event        *struct {
			ID       string          `json:"id"`
			StreamID string          `json:"stream_id"`
			Type     string          `json:"type"`
			Data     json.RawMessage `json:"data"`
		} `json:"event"`
	}
	apiDeadLetters struct {
		DeadLetters []apiDeadLetter `json:"dead_letters"`
		NextAfter   *int64          `json:"next_after"`
	}
	apiSaga struct {
		ID            string `json:"id"`
		Type          string `json:"type"`
		CorrelationID string `json:"correlation_id"`
		Status        string `json:"status"`
		LastError     string `json:"last_error"`
		History       []struct {
			Step    string `json:"step"`
			Phase   string `json:"phase"`
			Outcome string `json:"outcome"`
			At      string `json:"at"`
		} `json:"history"`
	}
	apiSagas struct {
		Sagas     []apiSaga `json:"sagas"`
		NextAfter string    `json:"next_after"`
	}
)

func (e *apiEnv) deadLetters(sub string) []apiDeadLetter {
	var v apiDeadLetters
	e.expect("GET", "/api/dead-letters?subscription="+sub, http.StatusOK).decode(e.t, &v)
	return v.DeadLetters
}

func (e *apiEnv) sagasWith(q string) []apiSaga {
	var v apiSagas
	e.expect("GET", "/api/sagas?"+q, http.StatusOK).decode(e.t, &v)
	return v.Sagas
}

func TestManagementAPI(t *testing.T) {
	a := &apiTestApp{}
	e := apiOpen(t, a.app(), "", runtime.Config{APIToken: apiTestToken, MemberID: "api-member"})
	e.run()

	t.Run("health", func(t *testing.T) {
		r := e.expect("GET", "/healthz", http.StatusOK, "-")
		if string(r.body) != "{\"status\":\"ok\"}\n" {
			t.Errorf("healthz body %q", r.body)
		}
		var ready struct {
			Ready   bool     `json:"ready"`
			Reasons []string `json:"reasons"`
		}
		e.expect("GET", "/readyz", http.StatusOK, "-").decode(t, &ready)
		if !ready.Ready {
			t.Errorf("not ready: %v", ready.Reasons)
		}
		m := e.expect("GET", "/metrics", http.StatusOK, "-")
		if !strings.HasPrefix(m.header.Get("Content-Type"), "text/plain") {
			t.Errorf("metrics content type %q", m.header.Get("Content-Type"))
		}
	})

	t.Run("auth", func(t *testing.T) {
		r := e.expect("GET", "/api/status", http.StatusUnauthorized, "-")
		if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
			t.Errorf("WWW-Authenticate %q", got)
		}
		r = e.expect("GET", "/api/status", http.StatusUnauthorized, "Bearer wrong-token")
		if got := r.header.Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
			t.Errorf("WWW-Authenticate %q", got)
		}
		e.expect("GET", "/api/status", http.StatusUnauthorized, "Basic "+apiTestToken)
		e.expect("GET", "/api/status", http.StatusUnauthorized, "Bearer "+apiTestToken+"x")
		e.expect("GET", "/api/no-such-thing", http.StatusUnauthorized, "-") // no probing without a token
		e.expect("POST", "/api/sagas/00000000-0000-0000-0000-000000000000/cancel", http.StatusUnauthorized, "-")
		e.expect("GET", "/api/status", http.StatusOK, "bearer "+apiTestToken) // the scheme is case-insensitive
		e.expect("GET", "/api/status", http.StatusOK)
	})

	// Orders, one of them bad; checkouts that fail.
	for i := 1; i <= 3; i++ {
		e.append(fmt.Sprintf("order-%d", i), "OrderPlaced", orderData{ID: fmt.Sprint(i)})
	}
	e.append("order-bad1", "OrderPlaced", orderData{ID: "bad1", Bad: true})
	for _, c := range []string{"c-1", "c-2", "c-3"} {
		e.append("checkout-"+c, "CheckoutStarted", orderData{ID: c})
	}

	t.Run("subscriptions", func(t *testing.T) {
		var sub apiSub
		obstest.Eventually(t, 30*time.Second, "api_orders to be owned and caught up", func() (bool, string) {
			// 404 until the worker has created the subscription's rows.
			r := e.call("GET", "/api/subscriptions/api_orders")
			if r.code == http.StatusNotFound {
				return false, "not created yet"
			}
			if r.code != http.StatusOK {
				t.Fatalf("GET /api/subscriptions/api_orders: status %d: %s", r.code, r.body)
			}
			r.decode(t, &sub)
			if len(sub.Partitions) != 2 || sub.LagEvents != 0 || sub.DeadLetters != 1 {
				return false, fmt.Sprintf("%+v", sub)
			}
			for _, p := range sub.Partitions {
				if p.Owner != "api-member" {
					return false, fmt.Sprintf("%+v", sub)
				}
			}
			return true, ""
		})
		if !sub.Registered || sub.State != worker.StateDeadLetters || !strings.Contains(sub.Head, "/") {
			t.Errorf("subscription %+v", sub)
		}
		if len(sub.Members) != 1 || sub.Members[0].ID != "api-member" {
			t.Errorf("members %+v", sub.Members)
		}
		var list struct {
			Subscriptions []apiSub `json:"subscriptions"`
		}
		e.expect("GET", "/api/subscriptions", http.StatusOK).decode(t, &list)
		var names []string
		for _, s := range list.Subscriptions {
			names = append(names, s.Name)
		}
		if !slices.Contains(names, "api_orders") || !slices.Contains(names, "saga:api_checkout") {
			t.Errorf("subscriptions %v", names)
		}
		e.expect("GET", "/api/subscriptions/saga:api_checkout", http.StatusOK)
		e.expect("GET", "/api/subscriptions/no_such_sub", http.StatusNotFound)

		var st struct {
			Head    string `json:"head"`
			Horizon struct {
				Held       bool    `json:"held"`
				AgeSeconds float64 `json:"age_seconds"`
			} `json:"horizon"`
			Subscriptions []apiSub                  `json:"subscriptions"`
			Sagas         map[string]map[string]int `json:"sagas"`
		}
		e.expect("GET", "/api/status", http.StatusOK).decode(t, &st)
		if !strings.Contains(st.Head, "/") || len(st.Subscriptions) != 2 || st.Sagas["api_checkout"] == nil {
			t.Errorf("status %+v", st)
		}
	})

	t.Run("dead letters", func(t *testing.T) {
		dls := e.deadLetters("api_orders")
		if len(dls) != 1 || dls[0].Key != "order-bad1" || dls[0].Type != "OrderPlaced" || !strings.Contains(dls[0].Error, "bad order") {
			t.Fatalf("dead letters %+v", dls)
		}
		id := dls[0].ID
		var show apiDeadLetter
		e.expect("GET", fmt.Sprintf("/api/dead-letters/api_orders/%d", id), http.StatusOK).decode(t, &show)
		if show.Event == nil || show.Event.StreamID != "order-bad1" || show.Event.Type != "OrderPlaced" ||
			!strings.Contains(string(show.Event.Data), `"bad":true`) || show.Position != dls[0].Position {
			t.Fatalf("dead letter %+v event %+v", show, show.Event)
		}
		// Paging.
		var page apiDeadLetters
		e.expect("GET", "/api/dead-letters?limit=1&partition=0&key=order-bad1", http.StatusOK)
		e.expect("GET", "/api/dead-letters?limit=1&key=order-bad1", http.StatusOK).decode(t, &page)
		if len(page.DeadLetters) != 1 || page.NextAfter == nil || *page.NextAfter != id {
			t.Errorf("page %+v", page)
		}
		var last apiDeadLetters
		e.expect("GET", fmt.Sprintf("/api/dead-letters?after=%d", id), http.StatusOK).decode(t, &last)
		if len(last.DeadLetters) != 0 || last.NextAfter != nil {
			t.Errorf("page after the last %+v", last)
		}

		// Retry once the handler is fixed: handled, gone.
		a.fixed.Store(true)
		before := a.handled.Load()
		e.expect("POST", fmt.Sprintf("/api/dead-letters/api_orders/%d/retry", id), http.StatusAccepted)
		obstest.Eventually(t, 30*time.Second, "the retried dead letter to be handled", func() (bool, string) {
			n := len(e.deadLetters("api_orders"))
			return n == 0 && a.handled.Load() > before, fmt.Sprintf("%d dead letters", n)
		})
		e.expect("POST", fmt.Sprintf("/api/dead-letters/api_orders/%d/retry", id), http.StatusNotFound)

		// Discard another.
		a.fixed.Store(false)
		e.append("order-bad2", "OrderPlaced", orderData{ID: "bad2", Bad: true})
		obstest.Eventually(t, 30*time.Second, "a second dead letter", func() (bool, string) {
			dls = e.deadLetters("api_orders")
			return len(dls) == 1, fmt.Sprintf("%+v", dls)
		})
		e.expect("POST", fmt.Sprintf("/api/dead-letters/api_orders/%d/discard", dls[0].ID), http.StatusOK)
		if dls := e.deadLetters("api_orders"); len(dls) != 0 {
			t.Errorf("dead letters after discard: %+v", dls)
		}
		e.expect("POST", fmt.Sprintf("/api/dead-letters/api_orders/%d/discard", dls[0].ID), http.StatusNotFound)
		e.expect("GET", fmt.Sprintf("/api/dead-letters/api_orders/%d", dls[0].ID), http.StatusNotFound)
		e.expect("GET", "/api/dead-letters?subscription=no_such_sub", http.StatusNotFound)
	})

	t.Run("sagas", func(t *testing.T) {
		var failed []apiSaga
		obstest.Eventually(t, 30*time.Second, "three failed checkouts", func() (bool, string) {
			failed = e.sagasWith("type=api_checkout&status=failed")
			return len(failed) == 3, fmt.Sprintf("%+v", e.sagasWith("type=api_checkout"))
		})
		byCorr := map[string]apiSaga{}
		for _, s := range failed {
			byCorr[s.CorrelationID] = s
		}
		if got := e.sagasWith("correlation_id=c-1"); len(got) != 1 || got[0].ID != byCorr["c-1"].ID {
			t.Fatalf("by correlation id: %+v", got)
		}
		if got := e.sagasWith("limit=2"); len(got) != 2 {
			t.Errorf("limit=2 gave %d", len(got))
		}
		var show apiSaga
		e.expect("GET", "/api/sagas/"+byCorr["c-1"].ID, http.StatusOK).decode(t, &show)
		if show.Status != "failed" || !strings.Contains(show.LastError, "cannot release") || len(show.History) < 3 {
			t.Fatalf("saga %+v", show)
		}
		var phases []string
		for _, h := range show.History {
			phases = append(phases, h.Step+"/"+h.Phase+"/"+h.Outcome)
		}
		want := []string{"reserve/action/completed", "charge/action/failed", "reserve/compensation/failed"}
		if !slices.Equal(phases[:3], want) {
			t.Errorf("history %v, want %v", phases, want)
		}

		// Cancel gives a failed saga up; a cancelled one cannot be cancelled
		// or retried again.
		var got apiSaga
		e.expect("POST", "/api/sagas/"+byCorr["c-2"].ID+"/cancel", http.StatusOK).decode(t, &got)
		if got.Status != "cancelled" {
			t.Errorf("cancelled saga %+v", got)
		}
		e.expect("POST", "/api/sagas/"+byCorr["c-2"].ID+"/cancel", http.StatusConflict)
		e.expect("POST", "/api/sagas/"+byCorr["c-2"].ID+"/retry", http.StatusConflict)
		e.expect("POST", "/api/sagas/"+byCorr["c-2"].ID+"/resume", http.StatusConflict)

		// Resume skips the failed compensation (done by hand).
		e.expect("POST", "/api/sagas/"+byCorr["c-3"].ID+"/resume", http.StatusOK).decode(t, &got)
		if got.Status != "compensated" {
			t.Errorf("resumed saga %+v", got)
		}

		// Retry runs the compensation again; fixed, it completes.
		a.compFixed.Store(true)
		e.expect("POST", "/api/sagas/"+byCorr["c-1"].ID+"/retry", http.StatusOK).decode(t, &got)
		if got.Status != "compensating" {
			t.Errorf("retried saga %+v", got)
		}
		obstest.Eventually(t, 30*time.Second, "the retried saga to be compensated", func() (bool, string) {
			var s apiSaga
			e.expect("GET", "/api/sagas/"+byCorr["c-1"].ID, http.StatusOK).decode(t, &s)
			return s.Status == "compensated", s.Status
		})
		e.expect("GET", "/api/sagas/6f1c3a52-3c2e-4d8e-9a57-6b9f0c1d2e3f", http.StatusNotFound)
		e.expect("POST", "/api/sagas/6f1c3a52-3c2e-4d8e-9a57-6b9f0c1d2e3f/retry", http.StatusNotFound)
	})

	t.Run("malformed and unknown", func(t *testing.T) {
		for _, p := range []string{
			"/api/dead-letters?limit=abc",
			"/api/dead-letters?limit=0",
			"/api/dead-letters?limit=100000",
			"/api/dead-letters?partition=-1",
			"/api/dead-letters?after=x",
			"/api/dead-letters?subscription=bad%20name",
			"/api/dead-letters?colour=blue",
			"/api/dead-letters?limit=1&limit=2",
			"/api/dead-letters/api_orders/abc",
			"/api/dead-letters/api_orders/0",
			"/api/dead-letters/api_orders/-3",
			"/api/dead-letters/bad%20name/1",
			"/api/sagas/not-a-uuid",
			"/api/sagas?status=exploded",
			"/api/sagas?after=nope",
			"/api/sagas?limit=-1",
			"/api/subscriptions/9starts-with-digit",
			"/api/status?verbose=1",
		} {
			e.expect("GET", p, http.StatusBadRequest)
		}
		e.expect("POST", "/api/sagas/not-a-uuid/cancel", http.StatusBadRequest)
		e.expect("POST", "/api/dead-letters/api_orders/x/retry", http.StatusBadRequest)

		e.expect("GET", "/api/nothing-here", http.StatusNotFound)
		e.expect("GET", "/nothing-here", http.StatusNotFound, "-")
		e.expect("POST", "/api/sagas/6f1c3a52-3c2e-4d8e-9a57-6b9f0c1d2e3f/explode", http.StatusNotFound)

		r := e.expect("DELETE", "/api/status", http.StatusMethodNotAllowed)
		if !strings.Contains(r.header.Get("Allow"), "GET") {
			t.Errorf("Allow %q", r.header.Get("Allow"))
		}
		r = e.expect("GET", "/api/projections/api_orders/replay", http.StatusMethodNotAllowed)
		if r.header.Get("Allow") != "POST" {
			t.Errorf("Allow %q", r.header.Get("Allow"))
		}
		e.expect("POST", "/healthz", http.StatusMethodNotAllowed, "-")
		e.expect("PUT", "/api/sagas/6f1c3a52-3c2e-4d8e-9a57-6b9f0c1d2e3f", http.StatusMethodNotAllowed)

		// An oversized body is refused.
		req, _ := http.NewRequest("POST", e.url+"/api/sagas/6f1c3a52-3c2e-4d8e-9a57-6b9f0c1d2e3f/retry",
			strings.NewReader(strings.Repeat("x", 1<<20)))
		req.Header.Set("Authorization", "Bearer "+apiTestToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("oversized body: %s", resp.Status)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		obstest.Eventually(t, 30*time.Second, "the runtime's metrics", func() (bool, string) {
			fams := obstest.Scrape(t, e.url+"/metrics")
			for _, c := range []struct {
				name   string
				labels map[string]string
				min    float64
			}{
				{"causeway_events_handled_total", map[string]string{"subscription": "api_orders", "outcome": "ok"}, 4},
				{"causeway_events_handled_total", map[string]string{"subscription": "api_orders", "outcome": "permanent"}, 2},
				{"causeway_events_dead_lettered_total", map[string]string{"subscription": "api_orders", "blocked": "false"}, 2},
				{"causeway_handler_duration_seconds", map[string]string{"subscription": "saga:api_checkout"}, 3},
				{"causeway_lease_changes_total", map[string]string{"subscription": "api_orders", "owned": "true", "reason": "claimed"}, 2},
				{"causeway_saga_transitions_total", map[string]string{"saga_type": "api_checkout", "from": "compensating", "to": "failed"}, 3},
				{"causeway_saga_transitions_total", map[string]string{"saga_type": "api_checkout", "from": "compensating", "to": "compensated"}, 1},
				{"causeway_saga_step_duration_seconds", map[string]string{"saga_type": "api_checkout", "step": "charge", "phase": "action", "outcome": "error"}, 3},
				{"causeway_subscription_lag_events", map[string]string{"subscription": "api_orders"}, 0},
				{"causeway_subscription_lag_seconds", map[string]string{"subscription": "api_orders"}, 0},
				{"causeway_subscription_dead_letters", map[string]string{"subscription": "api_orders"}, 0},
				{"causeway_subscription_halted", map[string]string{"subscription": "api_orders"}, 0},
				{"causeway_subscription_partitions", map[string]string{"subscription": "api_orders", "state": "running"}, 2},
				{"causeway_log_horizon_age_seconds", nil, 0},
				{"causeway_log_horizon_held", nil, 0},
				{"causeway_sagas", map[string]string{"saga_type": "api_checkout", "status": "compensated"}, 2},
				{"causeway_sagas", map[string]string{"saga_type": "api_checkout", "status": "cancelled"}, 1},
			} {
				v, ok := obstest.Value(fams, c.name, c.labels)
				if !ok || v < c.min {
					return false, fmt.Sprintf("%s%v = %v (present %v), want at least %v", c.name, c.labels, v, ok, c.min)
				}
			}
			return true, ""
		})
	})

	t.Run("replay", func(t *testing.T) {
		a.fixed.Store(true)
		before := a.handled.Load()
		var res struct {
			Projection      string  `json:"projection"`
			Events          int64   `json:"events"`
			DurationSeconds float64 `json:"duration_seconds"`
		}
		e.expect("POST", "/api/projections/api_orders/replay", http.StatusAccepted).decode(t, &res)
		if res.Projection != "api_orders" || res.Events != 5 {
			t.Errorf("replay %+v, want 5 events", res)
		}
		// The running runners are fenced and rebuild from the start: the 5
		// events but order-bad2, which an operator discarded above (a
		// discard is remembered across replays).
		obstest.Eventually(t, 30*time.Second, "the projection to be rebuilt", func() (bool, string) {
			var sub apiSub
			e.expect("GET", "/api/subscriptions/api_orders", http.StatusOK).decode(t, &sub)
			n := a.handled.Load() - before
			return n >= 4 && sub.LagEvents == 0 && sub.DeadLetters == 0, fmt.Sprintf("%d handled again, lag %d, %d dead letters", n, sub.LagEvents, sub.DeadLetters)
		})
		e.expect("POST", "/api/projections/no_such_projection/replay", http.StatusNotFound)
		e.expect("POST", "/api/projections/saga:api_checkout/replay", http.StatusNotFound)
		e.expect("POST", "/api/projections/api_orders/replay", http.StatusUnauthorized, "-")
	})
}

// TestReadiness: /readyz turns 503 while a transaction holds the log's
// horizon back longer than ReadyMaxHorizon; an API without a token is open.
func TestReadiness(t *testing.T) {
	ctx := pgtest.Context(t, time.Minute)
	relaxed := apiOpen(t, runtime.App{Name: "ready"}, "", runtime.Config{})
	strict := apiOpen(t, runtime.App{Name: "ready"}, relaxed.schema, runtime.Config{ReadyMaxHorizon: 100 * time.Millisecond})

	relaxed.expect("GET", "/api/status", http.StatusOK, "-") // no token configured: open (loopback only)

	pool, err := pgxpool.New(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, `SELECT txid_current()`); err != nil { // take a transaction id
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)

	var ready struct {
		Ready   bool     `json:"ready"`
		Reasons []string `json:"reasons"`
	}
	strict.expect("GET", "/readyz", http.StatusServiceUnavailable).decode(t, &ready)
	if ready.Ready || len(ready.Reasons) == 0 || !strings.Contains(ready.Reasons[0], "horizon") {
		t.Errorf("readiness while held: %+v", ready)
	}
	relaxed.expect("GET", "/readyz", http.StatusOK).decode(t, &ready)
	if !ready.Ready {
		t.Errorf("readiness under a relaxed threshold: %+v", ready)
	}
	var st struct {
		Horizon struct {
			Held       bool    `json:"held"`
			PID        int     `json:"pid"`
			AgeSeconds float64 `json:"age_seconds"`
			Since      string  `json:"since"`
		} `json:"horizon"`
	}
	strict.expect("GET", "/api/status", http.StatusOK).decode(t, &st)
	if !st.Horizon.Held || st.Horizon.PID == 0 || st.Horizon.AgeSeconds < 0.2 {
		t.Errorf("horizon %+v", st.Horizon)
	}
	if _, err := time.Parse(time.RFC3339, st.Horizon.Since); err != nil {
		t.Errorf("since %q: %v", st.Horizon.Since, err)
	}

	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	obstest.Eventually(t, 10*time.Second, "readiness once the transaction ended", func() (bool, string) {
		r := strict.call("GET", "/readyz")
		return r.code == http.StatusOK, string(r.body)
	})
}

// TestRunRefusesOpenAPIOnPublicAddress: no token, non-loopback address.
func TestRunRefusesOpenAPIOnPublicAddress(t *testing.T) {
	e := apiOpen(t, runtime.App{Name: "public"}, "", runtime.Config{HTTPAddr: "0.0.0.0:0"})
	err := e.r.Run(pgtest.Context(t, time.Minute))
	if err == nil || !strings.Contains(err.Error(), "token") {
		t.Fatalf("Run = %v, want a refusal mentioning the token", err)
	}
}
