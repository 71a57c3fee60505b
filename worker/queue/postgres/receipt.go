package postgres

import (
	"strings"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/worker/queue"
)

// A receipt is "<message id>.<token>": the token is drawn afresh for each
// delivery and stored in the message's row; the id finds the row by its
// primary key, so tokens need no index (one index entry fewer written per
// dequeue). A receipt matches only while its token is the row's.
type receipt struct{ id, token uuid.UUID }

// receiptText renders a delivered row's receipt in SQL.
const receiptText = `m.id::text || '.' || m.receipt::text`

// parseReceipt reads a receipt; one that is not ours names no current
// delivery: it is stale.
func parseReceipt(op string, r queue.Receipt) (receipt, error) {
	id, token, ok := strings.Cut(string(r), ".")
	if !ok {
		return receipt{}, stale(op)
	}
	var (
		rc  receipt
		err error
	)
	if rc.id, err = uuid.Parse(id); err != nil {
		return receipt{}, stale(op)
	}
	if rc.token, err = uuid.Parse(token); err != nil {
		return receipt{}, stale(op)
	}
	return rc, nil
}
