package peers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/internal/benchcpu"
	"github.com/causewayhq/causeway/internal/benchenv"
)

// Env is the one PostgreSQL server every arm runs against.
type Env struct {
	URL    string
	Logger *slog.Logger
	// Admin is a small pool for creating and dropping schemas.
	Admin *pgxpool.Pool
	// Postmaster is the server's PID when it runs on this machine (0
	// otherwise), to account its CPU apart from other processes'.
	Postmaster int
	// QuietWait bounds how long each repetition waits for other processes
	// to go idle first; zero or negative neither waits nor re-runs
	// disturbed repetitions.
	QuietWait time.Duration
}

// NewEnv connects to the server at url.
func NewEnv(ctx context.Context, url string, logger *slog.Logger) (*Env, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("peers: parse url: %w", err)
	}
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("peers: connect: %w", err)
	}
	var backend int
	if err := pool.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		pool.Close()
		return nil, fmt.Errorf("peers: connect: %w", err)
	}
	return &Env{URL: url, Logger: logger, Admin: pool, Postmaster: benchcpu.FindPostmaster(backend), QuietWait: 30 * time.Second}, nil
}

// Close closes the administrative pool.
func (e *Env) Close() { e.Admin.Close() }

// NewSchema creates a fresh schema named peers_<name>_<random>.
func (e *Env) NewSchema(ctx context.Context, name string) (string, error) {
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	schema := "peers_" + strings.ReplaceAll(name, "-", "_") + "_" + hex.EncodeToString(rnd[:])
	if _, err := e.Admin.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return "", fmt.Errorf("peers: create schema: %w", err)
	}
	return schema, nil
}

// DropSchema drops a schema made by NewSchema.
func (e *Env) DropSchema(schema string) {
	_, _ = e.Admin.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
}

// Pool opens a pool of size conns whose connections have search_path set
// to schema (for the peers that put their tables on the search path).
func (e *Env) Pool(ctx context.Context, schema string, conns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(e.URL)
	if err != nil {
		return nil, fmt.Errorf("peers: parse url: %w", err)
	}
	cfg.MaxConns = conns
	if schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = schema
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("peers: connect: %w", err)
	}
	return pool, nil
}

// Server describes the PostgreSQL server.
type Server = benchenv.Server

// Server reports the server's version and non-default settings.
func (e *Env) Server(ctx context.Context) (Server, error) { return benchenv.ReadServer(ctx, e.Admin) }

// Machine describes the machine the benchmark ran on.
type Machine = benchenv.Machine

// ThisMachine describes the current machine.
func ThisMachine() Machine { return benchenv.ThisMachine() }
