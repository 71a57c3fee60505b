package worker

import (
	"errors"
	"io"
	"net"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/causewayhq/causeway/eventlog"
)

// isTransient reports whether err is the database (or network) being away
// or a transaction conflict, rather than the handler failing: PostgreSQL
// restarting, a dropped connection, a serialization failure or deadlock.
// Such errors are retried without limit and never count as attempts, so an
// outage never dead-letters events. An append's order conflict
// (eventlog.IsRetryable: a handler's AppendTx, e.g. projection.Emit, lost
// to a later writer of the stream) is such a conflict too.
func isTransient(err error) bool {
	if err == nil {
		return false
	}
	if eventlog.IsRetryable(err) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case len(pgErr.Code) == 5 && pgErr.Code[:2] == "08": // connection exception
			return true
		case pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03": // shutdown, crash, starting up
			return true
		case pgErr.Code == "53300", pgErr.Code == "40001", pgErr.Code == "40P01":
			return true
		}
		return false
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) || pgconn.Timeout(err) ||
		pgconn.SafeToRetry(err) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed)
}
