package runtime

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/causewayhq/causeway/projection"
	"github.com/causewayhq/causeway/runtime/migrate"
	"github.com/causewayhq/causeway/runtime/telemetry"
	"github.com/causewayhq/causeway/saga"
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
	SagaConcurrency int // CAUSEWAY_SAGA_CONCURRENCY (default saga.DefaultConcurrency, 64)
	// Blue/green rebuilds of versioned projections: how far behind the head
	// a new build may still be when readers are switched to it, and how
	// long a replaced build is kept before it is dropped.
	RebuildMaxLag int64         // CAUSEWAY_REBUILD_MAX_LAG events (default 100)
	RebuildGrace  time.Duration // CAUSEWAY_REBUILD_GRACE (default 1h)
	// ConnectTimeout bounds opening each database connection when the
	// connection string has no connect_timeout (and PGCONNECT_TIMEOUT is
	// unset): CAUSEWAY_CONNECT_TIMEOUT, 0 meaning DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// CommandTimeout bounds Open's first contact with the database and the
	// whole database work of an operations command (status, dlq, sagas):
	// CAUSEWAY_COMMAND_TIMEOUT, 0 meaning DefaultCommandTimeout.
	CommandTimeout time.Duration
	// TracerProvider receives the handlers' and saga steps' spans (default: the global
	// otel.GetTracerProvider()).
	TracerProvider trace.TracerProvider
	// TelemetryFromEnv exports spans and metrics as the standard OTEL_*
	// environment variables say (OTLP over HTTP or gRPC, console, none;
	// see docs/operations.md), besides /metrics; the exporting tracer
	// provider becomes the global one unless TracerProvider is set. `run`
	// sets it; Close flushes the export.
	TelemetryFromEnv bool
	// Logger, when set, is used instead of one built from LogLevel and
	// LogFormat (programs with their own logging; tests). Either way,
	// records made with a handler's context get its trace, span, event and
	// correlation ids (see logging.go).
	Logger *slog.Logger
}

// Defaults of the settings that have one.
const (
	// DefaultHTTPAddr is where the management API listens by default.
	DefaultHTTPAddr = "127.0.0.1:8080"
	// DefaultConnectTimeout bounds opening one database connection, unless
	// the connection string sets connect_timeout.
	DefaultConnectTimeout = 10 * time.Second
	// DefaultCommandTimeout bounds the database work of one operations
	// command (status, dlq, sagas) and Open's first contact.
	DefaultCommandTimeout = time.Minute
)

// EnvError is a value in the environment that ConfigFromEnv cannot use.
type EnvError struct {
	Var   string // the variable, e.g. CAUSEWAY_LEASE_TTL
	Value string
	Want  string // the expected form
}

func (e *EnvError) Error() string {
	return fmt.Sprintf("%s=%q: want %s", e.Var, e.Value, e.Want)
}

// ConfigFromEnv reads the environment. A variable that is set but cannot
// be parsed is an error (an *EnvError for each, joined), never silently
// replaced by its default; the Config returned alongside has the defaults
// for those.
func ConfigFromEnv() (Config, error) {
	c := Config{
		DatabaseURL:     os.Getenv("DATABASE_URL"),
		ListenURL:       os.Getenv("CAUSEWAY_LISTEN_URL"),
		Schema:          envOr("CAUSEWAY_SCHEMA", migrate.DefaultSchema),
		HTTPAddr:        envOr("CAUSEWAY_HTTP_ADDR", DefaultHTTPAddr),
		APIToken:        os.Getenv("CAUSEWAY_API_TOKEN"),
		MemberID:        os.Getenv("CAUSEWAY_MEMBER_ID"),
		LogLevel:        envOr("CAUSEWAY_LOG_LEVEL", "info"),
		LogFormat:       envOr("CAUSEWAY_LOG_FORMAT", "text"),
		LeaseTTL:        10 * time.Second,
		ConnectTimeout:  DefaultConnectTimeout,
		CommandTimeout:  DefaultCommandTimeout,
		ReadyMaxLag:     10_000,
		ReadyMaxHorizon: time.Minute,
		SagaConcurrency: saga.DefaultConcurrency,
		RebuildMaxLag:   projection.DefaultSwapMaxLag,
		RebuildGrace:    projection.DefaultBuildGrace,
	}
	var errs []error
	envParse(&errs, "CAUSEWAY_DISABLE_NOTIFY", &c.DisableNotify, "true or false", strconv.ParseBool)
	envParse(&errs, "CAUSEWAY_LEASE_TTL", &c.LeaseTTL, durationWant, parsePositiveDuration)
	envParse(&errs, "CAUSEWAY_CONNECT_TIMEOUT", &c.ConnectTimeout, durationWant, parsePositiveDuration)
	envParse(&errs, "CAUSEWAY_COMMAND_TIMEOUT", &c.CommandTimeout, durationWant, parsePositiveDuration)
	envParse(&errs, "CAUSEWAY_READY_MAX_LAG", &c.ReadyMaxLag, "a whole number of events, 0 or more", func(s string) (int64, error) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err == nil && n < 0 {
			err = errors.New("negative")
		}
		return n, err
	})
	envParse(&errs, "CAUSEWAY_READY_MAX_HORIZON", &c.ReadyMaxHorizon, durationWant, parsePositiveDuration)
	envParse(&errs, "CAUSEWAY_SAGA_CONCURRENCY", &c.SagaConcurrency, "a whole number, 1 or more", func(s string) (int, error) {
		n, err := strconv.Atoi(s)
		if err == nil && n < 1 {
			err = errors.New("below 1")
		}
		return n, err
	})
	envParse(&errs, "CAUSEWAY_REBUILD_MAX_LAG", &c.RebuildMaxLag, "a whole number of events, 1 or more", func(s string) (int64, error) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err == nil && n < 1 {
			err = errors.New("below 1")
		}
		return n, err
	})
	envParse(&errs, "CAUSEWAY_REBUILD_GRACE", &c.RebuildGrace, durationWant, parsePositiveDuration)
	return c, errors.Join(errs...)
}

const durationWant = "a positive duration with its unit, such as 10s, 500ms or 1m30s"

func parsePositiveDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err == nil && d <= 0 {
		err = errors.New("not positive")
	}
	return d, err
}

// envParse sets *dst from the variable key when it is set, recording an
// *EnvError when parse refuses its value.
func envParse[T any](errs *[]error, key string, dst *T, want string, parse func(string) (T, error)) {
	s, ok := os.LookupEnv(key)
	if !ok || s == "" {
		return
	}
	v, err := parse(strings.TrimSpace(s))
	if err != nil {
		*errs = append(*errs, &EnvError{Var: key, Value: s, Want: want})
		return
	}
	*dst = v
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// bindFlags adds the connection flags every command shares.
func (c *Config) bindFlags(fs *flag.FlagSet) {
	fs.Var((*dsnValue)(&c.DatabaseURL), "database-url", "PostgreSQL connection `URL` (env DATABASE_URL)")
	fs.StringVar(&c.Schema, "schema", c.Schema, "PostgreSQL schema for Causeway's tables (env CAUSEWAY_SCHEMA)")
	fs.DurationVar(&c.ConnectTimeout, "connect-timeout", c.ConnectTimeout,
		"bound on opening a database connection, unless the URL sets connect_timeout (env CAUSEWAY_CONNECT_TIMEOUT)")
	fs.DurationVar(&c.CommandTimeout, "command-timeout", c.CommandTimeout,
		"bound on a command's database work: status, dlq, sagas (env CAUSEWAY_COMMAND_TIMEOUT)")
}

// bindRunFlags adds the flags of `run`.
func (c *Config) bindRunFlags(fs *flag.FlagSet) {
	fs.Var((*dsnValue)(&c.ListenURL), "listen-url", "connection `URL` for LISTEN, e.g. past PgBouncer (env CAUSEWAY_LISTEN_URL)")
	fs.BoolVar(&c.DisableNotify, "disable-notify", c.DisableNotify, "no NOTIFY hints; rely on polling (env CAUSEWAY_DISABLE_NOTIFY)")
	fs.StringVar(&c.HTTPAddr, "http", c.HTTPAddr, `management API address, "off" to disable (env CAUSEWAY_HTTP_ADDR)`)
	fs.StringVar(&c.MemberID, "member-id", c.MemberID, "this process's name in consumer groups (env CAUSEWAY_MEMBER_ID)")
	fs.DurationVar(&c.LeaseTTL, "lease-ttl", c.LeaseTTL, "partition lease TTL (env CAUSEWAY_LEASE_TTL)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error (env CAUSEWAY_LOG_LEVEL)")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "text or json (env CAUSEWAY_LOG_FORMAT)")
	fs.IntVar(&c.SagaConcurrency, "saga-concurrency", c.SagaConcurrency, "saga steps run at once (env CAUSEWAY_SAGA_CONCURRENCY)")
	fs.Int64Var(&c.RebuildMaxLag, "rebuild-max-lag", c.RebuildMaxLag,
		"a new build of a versioned projection replaces the live one when at most this many events behind (env CAUSEWAY_REBUILD_MAX_LAG)")
	fs.DurationVar(&c.RebuildGrace, "rebuild-grace", c.RebuildGrace, "how long a replaced build is kept before it is dropped (env CAUSEWAY_REBUILD_GRACE)")
}

// check validates the configuration.
func (c Config) check() error {
	if c.DatabaseURL == "" {
		return errors.New("no database: set DATABASE_URL or --database-url (e.g. postgres://user:pass@host:5432/db)")
	}
	if err := migrate.ValidateSchema(c.Schema); err != nil {
		return err
	}
	if c.ConnectTimeout < 0 || c.CommandTimeout < 0 {
		return errors.New("negative connect or command timeout")
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
		return telemetry.ContextLogger(c.Logger), nil
	}
	return telemetry.NewLogger(os.Stderr, c.LogLevel, c.LogFormat)
}

func (c Config) connectTimeout() time.Duration {
	if c.ConnectTimeout > 0 {
		return c.ConnectTimeout
	}
	return DefaultConnectTimeout
}

func (c Config) commandTimeout() time.Duration {
	if c.CommandTimeout > 0 {
		return c.CommandTimeout
	}
	return DefaultCommandTimeout
}
