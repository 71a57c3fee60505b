package postgres

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// listen keeps a dedicated LISTEN connection open and calls wake on every
// notification and after every (re)connect — notifications sent while it was
// disconnected are lost, so a reconnect must always be followed by a poll.
func listen(ctx context.Context, connect func(context.Context) (*pgx.Conn, error), channel string, wake func(), logger *slog.Logger) {
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		err := listenOnce(ctx, connect, channel, wake, func() { backoff = 50 * time.Millisecond })
		if ctx.Err() != nil {
			return
		}
		logger.Warn("causeway: listener disconnected; polling until it reconnects", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func listenOnce(ctx context.Context, connect func(context.Context) (*pgx.Conn, error), channel string, wake, connected func()) error {
	conn, err := connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return err
	}
	connected()
	wake()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		wake()
	}
}
