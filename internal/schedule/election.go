package schedule

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
)

// LeaderLockKey is the session advisory-lock key the scheduler's leader
// holds for a schema. pg_locks shows it as classid = key >> 32,
// objid = key & 0xffffffff, objsubid = 1.
func LeaderLockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("causeway-schedule:" + schema))
	return int64(h.Sum64())
}

// elector holds or competes for the leader lock on one dedicated
// connection. It is used by one goroutine at a time.
type elector struct {
	cfg    *pgx.ConnConfig
	key    int64
	retry  time.Duration
	check  time.Duration
	logger *slog.Logger
	conn   *pgx.Conn
}

func newElector(cfg *pgx.ConnConfig, key int64, retry, check time.Duration, logger *slog.Logger) *elector {
	return &elector{cfg: cfg, key: key, retry: retry, check: check, logger: logger}
}

// acquire returns nil once this process holds the lock, or ctx's error.
// Between attempts it waits RetryInterval (with a little jitter, so that
// followers restarted together do not march in step).
func (e *elector) acquire(ctx context.Context) error {
	for {
		ok, err := e.try(ctx)
		if ok {
			return nil
		}
		if err != nil && ctx.Err() == nil {
			e.logger.Warn("schedule: leader election", "err", err)
		}
		jitter := time.Duration(rand.Int64N(int64(e.retry)/5 + 1))
		if err := sleep(ctx, e.retry+jitter); err != nil {
			return err
		}
	}
}

// try makes one attempt at the lock, connecting first if needed. A
// follower keeps its connection between attempts.
func (e *elector) try(ctx context.Context) (bool, error) {
	if e.conn == nil || e.conn.IsClosed() {
		conn, err := pgx.ConnectConfig(ctx, e.cfg)
		if err != nil {
			return false, fmt.Errorf("connect: %w", err)
		}
		e.conn = conn
	}
	var ok bool
	if err := e.conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, e.key).Scan(&ok); err != nil {
		e.close()
		return false, fmt.Errorf("try lock: %w", err)
	}
	return ok, nil
}

// errLost reports that the lock connection failed: the server may have
// released the lock already, so this process is no longer leader.
var errLost = errors.New("schedule: leader lock connection lost")

// hold checks the lock connection every CheckInterval until it fails
// (errLost) or ctx ends (ctx's error). Session locks live as long as the
// session, so a live connection means the lock is still held.
func (e *elector) hold(ctx context.Context) error {
	t := time.NewTicker(e.check)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		// Give a slow round trip some slack, but not so much that a leader
		// cut off from the server goes on firing for long.
		pctx, cancel := context.WithTimeout(ctx, max(2*e.check, time.Second))
		err := e.conn.Ping(pctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			e.logger.Warn("schedule: leader lock connection failed", "err", err)
			e.close()
			return errLost
		}
	}
}

// release gives the lock up by closing its connection (which ends the
// session and every lock it holds; an explicit unlock would add nothing).
func (e *elector) release() { e.close() }

func (e *elector) close() {
	if e.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = e.conn.Close(ctx)
	e.conn = nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
