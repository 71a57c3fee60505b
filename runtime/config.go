package runtime

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/causewayhq/causeway/internal/migrations"
)

// Config is the process configuration: flags override environment
// variables, which override defaults (12-factor).
type Config struct {
	DatabaseURL   string        // DATABASE_URL
	ListenURL     string        // CAUSEWAY_LISTEN_URL: LISTEN connection past a pooler
	Schema        string        // CAUSEWAY_SCHEMA (default causeway)
	DisableNotify bool          // CAUSEWAY_DISABLE_NOTIFY
	HTTPAddr      string        // CAUSEWAY_HTTP_ADDR (default 127.0.0.1:8080; "" or "off" disables)
	APIToken      string        // CAUSEWAY_API_TOKEN: bearer token for /api
	MemberID      string        // CAUSEWAY_MEMBER_ID (default host-pid-random)
	LeaseTTL      time.Duration // CAUSEWAY_LEASE_TTL (default 10s)
	LogLevel      string        // CAUSEWAY_LOG_LEVEL: debug, info, warn, error
	LogFormat     string        // CAUSEWAY_LOG_FORMAT: text or json
	// Readiness thresholds for /readyz.
	ReadyMaxLag     int64         // CAUSEWAY_READY_MAX_LAG events (default 10000)
	ReadyMaxHorizon time.Duration // CAUSEWAY_READY_MAX_HORIZON age (default 1m)
	// Concurrency of the saga executor.
	SagaConcurrency int // CAUSEWAY_SAGA_CONCURRENCY (default 16)
	// TracerProvider receives the handlers' spans (default: the global
	// otel.GetTracerProvider()).
	TracerProvider trace.TracerProvider
	// Logger, when set, is used instead of one built from LogLevel and
	// LogFormat (programs with their own logging; tests).
	Logger *slog.Logger
}

// DefaultHTTPAddr is where the management API listens by default.
const DefaultHTTPAddr = "127.0.0.1:8080"

// ConfigFromEnv reads the environment.
func ConfigFromEnv() Config {
	c := Config{
		DatabaseURL:     os.Getenv("DATABASE_URL"),
		ListenURL:       os.Getenv("CAUSEWAY_LISTEN_URL"),
		Schema:          envOr("CAUSEWAY_SCHEMA", migrations.DefaultSchema),
		HTTPAddr:        envOr("CAUSEWAY_HTTP_ADDR", DefaultHTTPAddr),
		APIToken:        os.Getenv("CAUSEWAY_API_TOKEN"),
		MemberID:        os.Getenv("CAUSEWAY_MEMBER_ID"),
		LogLevel:        envOr("CAUSEWAY_LOG_LEVEL", "info"),
		LogFormat:       envOr("CAUSEWAY_LOG_FORMAT", "text"),
		LeaseTTL:        10 * time.Second,
		ReadyMaxLag:     10_000,
		ReadyMaxHorizon: time.Minute,
		SagaConcurrency: 16,
	}
	c.DisableNotify, _ = strconv.ParseBool(os.Getenv("CAUSEWAY_DISABLE_NOTIFY"))
	if d, err := time.ParseDuration(os.Getenv("CAUSEWAY_LEASE_TTL")); err == nil {
		c.LeaseTTL = d
	}
	if n, err := strconv.ParseInt(os.Getenv("CAUSEWAY_READY_MAX_LAG"), 10, 64); err == nil {
		c.ReadyMaxLag = n
	}
	if d, err := time.ParseDuration(os.Getenv("CAUSEWAY_READY_MAX_HORIZON")); err == nil {
		c.ReadyMaxHorizon = d
	}
	if n, err := strconv.Atoi(os.Getenv("CAUSEWAY_SAGA_CONCURRENCY")); err == nil {
		c.SagaConcurrency = n
	}
	return c
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// bindFlags adds the connection flags every command shares.
func (c *Config) bindFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "PostgreSQL connection string (env DATABASE_URL)")
	fs.StringVar(&c.Schema, "schema", c.Schema, "PostgreSQL schema for Causeway's tables (env CAUSEWAY_SCHEMA)")
}

// bindRunFlags adds the flags of `run`.
func (c *Config) bindRunFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.ListenURL, "listen-url", c.ListenURL, "connection string for LISTEN, e.g. past PgBouncer (env CAUSEWAY_LISTEN_URL)")
	fs.BoolVar(&c.DisableNotify, "disable-notify", c.DisableNotify, "no NOTIFY hints; rely on polling (env CAUSEWAY_DISABLE_NOTIFY)")
	fs.StringVar(&c.HTTPAddr, "http", c.HTTPAddr, `management API address, "off" to disable (env CAUSEWAY_HTTP_ADDR)`)
	fs.StringVar(&c.MemberID, "member-id", c.MemberID, "this process's name in consumer groups (env CAUSEWAY_MEMBER_ID)")
	fs.DurationVar(&c.LeaseTTL, "lease-ttl", c.LeaseTTL, "partition lease TTL (env CAUSEWAY_LEASE_TTL)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error (env CAUSEWAY_LOG_LEVEL)")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "text or json (env CAUSEWAY_LOG_FORMAT)")
	fs.IntVar(&c.SagaConcurrency, "saga-concurrency", c.SagaConcurrency, "saga steps run at once (env CAUSEWAY_SAGA_CONCURRENCY)")
}

// check validates the configuration.
func (c Config) check() error {
	if c.DatabaseURL == "" {
		return errors.New("no database: set DATABASE_URL or --database-url (e.g. postgres://user:pass@host:5432/db)")
	}
	if err := migrations.ValidateSchema(c.Schema); err != nil {
		return err
	}
	if c.LeaseTTL < 500*time.Millisecond {
		return fmt.Errorf("lease TTL %v is too short (minimum 500ms)", c.LeaseTTL)
	}
	return nil
}

// checkHTTP refuses an unauthenticated API on a non-loopback address.
func (c Config) checkHTTP() error {
	if c.httpDisabled() || c.APIToken != "" {
		return nil
	}
	host, _, err := net.SplitHostPort(c.HTTPAddr)
	if err != nil {
		return fmt.Errorf("HTTP address %q: %w", c.HTTPAddr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("refusing to serve the management API on %s without a token: set CAUSEWAY_API_TOKEN, or listen on 127.0.0.1", c.HTTPAddr)
}

func (c Config) httpDisabled() bool { return c.HTTPAddr == "" || c.HTTPAddr == "off" }

// logger builds the process logger.
func (c Config) logger() (*slog.Logger, error) {
	if c.Logger != nil {
		return c.Logger, nil
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", c.LogLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.LogFormat {
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	case "text", "":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", c.LogFormat)
}
