package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/causewayhq/causeway/runtime"
	"github.com/causewayhq/causeway/runtime/api"
	"github.com/causewayhq/causeway/runtime/ops"
)

// Serving the management API over a runtime's operations, on a server of
// one's own (runtime.Run serves it on CAUSEWAY_HTTP_ADDR): health is open,
// /api/ needs the bearer token, and answers are ops's JSON shapes.
func ExampleHandler() {
	ctx := context.Background()
	cfg, err := runtime.ConfigFromEnv() // DATABASE_URL, CAUSEWAY_*
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg.Schema, cfg.HTTPAddr, cfg.Logger = "api_example", "off", slog.New(slog.DiscardHandler)
	r, err := runtime.Open(ctx, runtime.App{Name: "shop"}, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	r.Pool().Exec(ctx, `DROP SCHEMA IF EXISTS api_example CASCADE`) // a fresh example each run
	if _, err := r.Migrate(ctx); err != nil {
		fmt.Println(err)
		return
	}

	srv := httptest.NewServer(api.Handler(api.Config{Ops: r.Ops(), Token: "s3cret"}))
	defer srv.Close()
	get := func(path, token string) (int, []byte) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, []byte(err.Error())
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body
	}

	code, body := get("/healthz", "")
	fmt.Print(code, " ", string(body))
	code, _ = get("/api/status", "")
	fmt.Println(code)
	code, body = get("/api/status", "s3cret")
	var status ops.StatusView
	json.Unmarshal(body, &status)
	fmt.Println(code, "head", status.Head, "subscriptions", len(status.Subscriptions))
	// Output:
	// 200 {"status":"ok"}
	// 401
	// 200 head 0/0 subscriptions 0
}
