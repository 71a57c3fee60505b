package checkpoint

import (
	"context"

	"github.com/causewayhq/causeway/internal/pglisten"
)

// Announcing operators' retry requests.
//
// A worker used to poll RetryRequests every second while its partitions had
// dead letters: a statement of microseconds, but a backend wake-up a second
// per subscription, which made an idle server's CPU grow with dead letters
// present. The PostgreSQL store announces each request instead (a NOTIFY
// after the flags are committed, the subscription's name as payload), and
// workers listen (RetryListener) and poll on the announcement, keeping the
// poll only as a slow fallback for a notification lost while their LISTEN
// connection was down (they also poll after every reconnect).

// RetryListener is implemented by stores that announce operators' retry
// requests as they are made.
type RetryListener interface {
	// ListenRetries calls wake with a subscription's name whenever a retry
	// request (or a discard releasing a key's other dead letters) of it is
	// committed, and with "" after every (re)connect, when requests may have
	// been missed. It blocks until ctx ends.
	ListenRetries(ctx context.Context, wake func(sub string))
}

var _ RetryListener = (*PostgresStore)(nil)

// RetryChannel is the LISTEN/NOTIFY channel announcing retry requests for
// the subscriptions of a schema.
func RetryChannel(schema string) string { return "causeway_retries_" + schema }

// ListenRetries implements RetryListener on a dedicated connection taken
// out of the pool (as the event log's tailer does). Behind a
// transaction-pooling proxy LISTEN hears nothing: workers then act on
// requests at their fallback poll.
func (s *PostgresStore) ListenRetries(ctx context.Context, wake func(sub string)) {
	pglisten.Run(ctx, pglisten.Config{
		Connect:   pglisten.Dialer(s.pool, ""),
		Channel:   RetryChannel(s.schema),
		OnConnect: func() { wake("") },
		OnNotify:  wake,
	})
}

// announceRetry tells listening workers that sub has new retry requests. It
// runs after the requests are committed, so a woken poll sees them. A
// failure is not the operator's: the fallback poll finds the requests.
func (s *PostgresStore) announceRetry(ctx context.Context, sub string) {
	_, _ = s.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, RetryChannel(s.schema), sub)
}
