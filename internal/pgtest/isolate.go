package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/internal/migrations"
)

// ddlTimeout bounds each CREATE/DROP a helper runs.
const ddlTimeout = time.Minute

// uniqueName returns "t_" plus 16 random hex digits: a valid, lowercase,
// unquoted identifier that does not collide across parallel tests and
// processes.
func uniqueName(tb testing.TB) string {
	tb.Helper()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatalf("pgtest: random name: %v", err)
	}
	return "t_" + hex.EncodeToString(b[:])
}

// execOnce runs sql on a short-lived connection to connURL.
func execOnce(ctx context.Context, connURL, sql string) error {
	conn, err := pgx.Connect(ctx, connURL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}

// NewSchema creates a uniquely named schema in the test server's database
// and returns its name and a pool whose connections have search_path set
// to it. Cleanup closes the pool, then drops the schema with CASCADE.
func NewSchema(tb testing.TB) (string, *pgxpool.Pool) {
	tb.Helper()
	base := URL(tb)
	schema := uniqueName(tb)
	ctx, cancel := context.WithTimeout(context.Background(), ddlTimeout)
	defer cancel()
	if err := execOnce(ctx, base, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("pgtest: create schema: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), ddlTimeout)
		defer cancel()
		if err := execOnce(ctx, base, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			tb.Errorf("pgtest: drop schema: %v", err)
		}
	})
	cfg, err := pgxpool.ParseConfig(base)
	if err != nil {
		tb.Fatalf("pgtest: parse %s: %v", base, err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		tb.Fatalf("pgtest: create pool: %v", err)
	}
	tb.Cleanup(pool.Close) // runs before the drop: cleanups are LIFO
	return schema, pool
}

// NewDatabase creates a fresh database (a copy of template0) and returns its
// URL. Cleanup drops it, disconnecting any remaining sessions.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	base := URL(tb)
	name := uniqueName(tb)
	dbURL, err := withDatabase(base, name)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), ddlTimeout)
	defer cancel()
	// FILE_COPY (PG 15+) copies the files instead of WAL-logging every
	// block; older servers reject the option, so fall back.
	create := "CREATE DATABASE " + name + " TEMPLATE template0"
	err = execOnce(ctx, base, create+" STRATEGY FILE_COPY")
	if isSyntaxError(err) {
		err = execOnce(ctx, base, create)
	}
	if err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), ddlTimeout)
		defer cancel()
		drop := "DROP DATABASE IF EXISTS " + name
		err := execOnce(ctx, base, drop+" WITH (FORCE)") // PG 13+
		if isSyntaxError(err) {
			err = execOnce(ctx, base, drop)
		}
		if err != nil {
			tb.Errorf("pgtest: drop database: %v", err)
		}
	})
	return dbURL
}

// isSyntaxError reports a server's rejection of syntax it does not know
// (42601 syntax_error), or of an unknown CREATE DATABASE option (42601 too
// on PG 15; older servers may also say "option ... not recognized").
func isSyntaxError(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	return pgErr.Code == "42601" || strings.Contains(pgErr.Message, "not recognized")
}

// withDatabase returns connURL pointing at database db. It accepts both URL
// and keyword/value connection strings.
func withDatabase(connURL, db string) (string, error) {
	if strings.HasPrefix(connURL, "postgres://") || strings.HasPrefix(connURL, "postgresql://") {
		u, err := url.Parse(connURL)
		if err != nil {
			return "", fmt.Errorf("parse %s: %w", envURL, err)
		}
		u.Path = "/" + db
		u.RawPath = ""
		return u.String(), nil
	}
	return connURL + " dbname=" + db, nil // the last occurrence wins
}

// NewMigratedSchema is NewSchema with Causeway's migrations applied to it:
// what a test of a store or of the engine starts from.
func NewMigratedSchema(tb testing.TB) (string, *pgxpool.Pool) {
	tb.Helper()
	schema, pool := NewSchema(tb)
	ctx, cancel := context.WithTimeout(context.Background(), ddlTimeout)
	defer cancel()
	if _, err := migrations.Apply(ctx, pool, schema); err != nil {
		tb.Fatalf("pgtest: migrate %s: %v", schema, err)
	}
	return schema, pool
}
