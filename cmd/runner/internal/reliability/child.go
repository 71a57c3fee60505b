package reliability

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/causewayhq/causeway/runtime"
)

// childEnv turns a process into a consumer of the harness; it holds the
// childConfig as JSON.
const childEnv = "CAUSEWAY_RELIABILITY_CHILD"

// childConfig is what a consumer process needs.
type childConfig struct {
	URL       string        `json:"url"`
	Schema    string        `json:"schema"`
	AppSchema string        `json:"app_schema"`
	Member    string        `json:"member"`
	LeaseTTL  time.Duration `json:"lease_ttl"`
	// ReadyFD is the descriptor on which the child says it handles
	// SIGTERM: until then a SIGTERM would kill it like a SIGKILL, so the
	// harness waits for it before asking for a graceful stop.
	ReadyFD int `json:"ready_fd"`
}

// MaybeRunChild turns the process into one of the harness's consumer
// processes when it was started as one (an environment variable says so),
// and exits; otherwise it returns at once. Call it first thing in main — and
// in TestMain — of every binary that runs the harness, since the harness
// re-executes the current binary (Options.Executable) as its consumers.
func MaybeRunChild() {
	raw, ok := os.LookupEnv(childEnv)
	if !ok {
		return
	}
	if err := runChild(raw); err != nil {
		fmt.Fprintln(os.Stderr, "reliability child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// runChild runs the app with runtime.Run until SIGTERM or SIGINT (a
// graceful stop). SIGKILL needs no help; if the harness dies, its end of
// our stdin closes and we exit at once, like a kill.
func runChild(raw string) error {
	var cfg childConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		return fmt.Errorf("bad %s: %w", childEnv, err)
	}
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(3)
	}()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if cfg.ReadyFD > 0 {
		ready := os.NewFile(uintptr(cfg.ReadyFD), "ready")
		_, _ = ready.Write([]byte{1})
		_ = ready.Close()
	}
	err := runUntilStopped(ctx, cfg)
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		// SIGTERM while still connecting or migrating: nothing was claimed
		// yet, so stopping there is as graceful as stopping later (as
		// `runner run` exits 0 for it).
		return nil
	}
	return err
}

// runUntilStopped opens, migrates and runs the app until ctx ends.
func runUntilStopped(ctx context.Context, cfg childConfig) error {

	app, _ := newApp(cfg.AppSchema, cfg.Member)
	rc, err := runtime.ConfigFromEnv()
	if err != nil {
		return err
	}
	rc.DatabaseURL, rc.Schema, rc.MemberID, rc.LeaseTTL = cfg.URL, cfg.Schema, cfg.Member, cfg.LeaseTTL
	rc.HTTPAddr, rc.LogLevel, rc.LogFormat, rc.SagaConcurrency = "off", "warn", "text", 8
	r, err := runtime.Open(ctx, app, rc)
	if err != nil {
		return err
	}
	defer r.Close()
	// A consumer may start while PostgreSQL restarts: wait for it, as a
	// supervisor restarting the process would.
	for deadline := time.Now().Add(30 * time.Second); ; {
		_, err := r.Migrate(ctx)
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	return r.Run(ctx)
}
