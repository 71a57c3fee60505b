// Package benchenv describes where a benchmark ran: the machine and the
// PostgreSQL server. runner bench and the bench/peers module print it as the
// first line of their JSON output.
package benchenv

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Server describes the PostgreSQL server.
type Server struct {
	Version string `json:"version"`
	// Settings are the parameters not at their built-in default
	// (pg_settings.source other than default and override), name=value.
	Settings []string `json:"settings"`
}

// Querier is what ReadServer needs of a pool or connection.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// ReadServer reports the server's version and non-default settings.
func ReadServer(ctx context.Context, db Querier) (Server, error) {
	var s Server
	if err := db.QueryRow(ctx, "SHOW server_version").Scan(&s.Version); err != nil {
		return s, err
	}
	rows, err := db.Query(ctx, `SELECT name || '=' || current_setting(name)
		FROM pg_settings WHERE source NOT IN ('default', 'override', 'client', 'session')
		  AND name NOT IN ('port', 'listen_addresses', 'unix_socket_directories', 'data_directory')
		ORDER BY name`)
	if err != nil {
		return s, err
	}
	s.Settings, err = pgx.CollectRows(rows, pgx.RowTo[string])
	return s, err
}

// Machine describes the machine the benchmark ran on.
type Machine struct {
	CPU      string `json:"cpu"`
	Cores    int    `json:"cores"`
	MemoryMB int64  `json:"memory_mb"`
	GOOS     string `json:"goos"`
	GOARCH   string `json:"goarch"`
	Go       string `json:"go"`
}

// ThisMachine describes the current machine (CPU and memory from /proc on
// Linux; empty elsewhere).
func ThisMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			var kb int64
			if _, err := fmt.Sscanf(line, "MemTotal: %d kB", &kb); err == nil {
				m.MemoryMB = kb / 1024
				break
			}
		}
	}
	return m
}
