package eventlog

import (
	"fmt"
	"strconv"
	"strings"
)

// Position is a place in the global log: the appending transaction's id and
// the row's sequence number. The global order is (TxID, Seq). Positions are
// opaque to users: store them (String/ParsePosition or the text marshalers)
// and compare them with Compare, never by arithmetic.
//
// Only Start and the positions of events (or cursors a store returned, which
// are one of those) are safe to keep: after crash recovery or a failover,
// PostgreSQL can hand out again the transaction ids of transactions whose
// WAL was lost, so a made-up position above the last committed row (a
// "horizon") can end up ahead of events committed later.
type Position struct {
	TxID uint64
	Seq  int64
}

// Start is the position before the first event of any log.
var Start = Position{}

// Compare returns -1, 0 or +1 as p is before, equal to or after q.
func (p Position) Compare(q Position) int {
	switch {
	case p.TxID < q.TxID:
		return -1
	case p.TxID > q.TxID:
		return 1
	case p.Seq < q.Seq:
		return -1
	case p.Seq > q.Seq:
		return 1
	}
	return 0
}

// Before reports whether p comes before q.
func (p Position) Before(q Position) bool { return p.Compare(q) < 0 }

// IsZero reports whether p is Start.
func (p Position) IsZero() bool { return p == Start }

// String renders p as "txid/seq".
func (p Position) String() string {
	return strconv.FormatUint(p.TxID, 10) + "/" + strconv.FormatInt(p.Seq, 10)
}

// ParsePosition parses the String form.
func ParsePosition(s string) (Position, error) {
	tx, seq, ok := strings.Cut(s, "/")
	if !ok {
		return Position{}, fmt.Errorf("eventlog: position %q: want txid/seq", s)
	}
	t, err := strconv.ParseUint(tx, 10, 64)
	if err != nil {
		return Position{}, fmt.Errorf("eventlog: position %q: %w", s, err)
	}
	n, err := strconv.ParseInt(seq, 10, 64)
	if err != nil || n < 0 {
		return Position{}, fmt.Errorf("eventlog: position %q: bad sequence", s)
	}
	return Position{TxID: t, Seq: n}, nil
}

// MarshalText implements encoding.TextMarshaler.
func (p Position) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Position) UnmarshalText(b []byte) error {
	q, err := ParsePosition(string(b))
	if err != nil {
		return err
	}
	*p = q
	return nil
}
