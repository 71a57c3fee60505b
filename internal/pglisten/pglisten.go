// Package pglisten keeps a PostgreSQL LISTEN connection open for the stores
// that wake their readers on NOTIFY (the event log's tailer, the queue
// consumers). It reconnects with backoff forever, and reports every
// (re)connect: notifications sent while it was disconnected are lost, so
// whoever relies on them must poll after each one.
package pglisten

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/internal/backoff"
)

// Config is what Run listens with.
type Config struct {
	// Connect opens the dedicated connection (see Dialer).
	Connect func(context.Context) (*pgx.Conn, error)
	// Channel is the channel to LISTEN on (quoted by Run).
	Channel string
	// OnConnect is called after every (re)connect, once LISTEN is in place.
	OnConnect func()
	// OnNotify is called with each notification's payload.
	OnNotify func(payload string)
	// Logger receives a warning per disconnect (default slog.Default()).
	Logger *slog.Logger
}

// Run listens until ctx ends. It never returns early: a lost connection is
// reopened after a backoff (50 ms doubling to 5 s, reset by a successful
// connect).
func Run(ctx context.Context, cfg Config) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	b := backoff.New(50*time.Millisecond, 5*time.Second)
	for ctx.Err() == nil {
		err := once(ctx, cfg, b.Reset)
		if ctx.Err() != nil {
			return
		}
		wait := b.Next()
		cfg.Logger.Warn("causeway: listener disconnected; polling until it reconnects", "channel", cfg.Channel, "err", err, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func once(ctx context.Context, cfg Config, connected func()) error {
	conn, err := cfg.Connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{cfg.Channel}.Sanitize()); err != nil {
		return err
	}
	connected()
	if cfg.OnConnect != nil {
		cfg.OnConnect()
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if cfg.OnNotify != nil {
			cfg.OnNotify(n.Payload)
		}
	}
}

// Dialer returns the usual Connect: a new connection to url when it is set
// (to get past a transaction-pooling proxy, where LISTEN does not work),
// else a connection taken out of pool for good, so it shares the pool's TLS
// and auth settings without counting against it afterwards.
func Dialer(pool *pgxpool.Pool, url string) func(context.Context) (*pgx.Conn, error) {
	return func(ctx context.Context) (*pgx.Conn, error) {
		if url != "" {
			return pgx.Connect(ctx, url)
		}
		c, err := pool.Acquire(ctx)
		if err != nil {
			return nil, err
		}
		return c.Hijack(), nil
	}
}
