package postgres

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/internal/backoff"
)

// listen keeps a dedicated LISTEN connection open and calls wake on every
// notification and after every (re)connect — notifications sent while it was
// disconnected are lost, so a reconnect must always be followed by a poll.
func listen(ctx context.Context, connect func(context.Context) (*pgx.Conn, error), channel string, wake func(), logger *slog.Logger) {
	backoff := backoff.New(50*time.Millisecond, 5*time.Second)
	for ctx.Err() == nil {
		err := listenOnce(ctx, connect, channel, wake, backoff.Reset)
		if ctx.Err() != nil {
			return
		}
		wait := backoff.Next()
		logger.Warn("causeway: listener disconnected; polling until it reconnects", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
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
