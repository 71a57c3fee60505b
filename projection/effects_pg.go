package projection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/causewayhq/causeway/eventlog"
	pgstore "github.com/causewayhq/causeway/eventlog/postgres"
	"github.com/causewayhq/causeway/internal/migrations"
	"github.com/causewayhq/causeway/worker/queue"
)

// Held-back effects live in projection_effects (migration 0013), one row
// per Emit or Enqueue call, keyed by the owner (the build's subscription),
// the source event's position and the call's order in the delivery.

const (
	kindEmit    = "emit"
	kindEnqueue = "enqueue"
)

// heldEvent and heldMessage are the stored forms, with their own JSON
// names so the table does not depend on the Go structs' field names.
type heldEvent struct {
	ID       uuid.UUID         `json:"id"`
	Type     string            `json:"type"`
	Data     json.RawMessage   `json:"data"`
	Metadata eventlog.Metadata `json:"metadata"`
}

type heldMessage struct {
	ID          uuid.UUID         `json:"id"`
	Payload     json.RawMessage   `json:"payload"`
	Headers     map[string]string `json:"headers"`
	Priority    int               `json:"priority,omitempty"`
	Delay       time.Duration     `json:"delay,omitempty"`
	NotBefore   time.Time         `json:"not_before,omitzero"`
	DedupKey    string            `json:"dedup_key,omitempty"`
	DedupWindow time.Duration     `json:"dedup_window,omitempty"`
}

func effectsTable(schema string) (string, error) {
	if err := migrations.ValidateSchema(schema); err != nil {
		return "", fmt.Errorf("projection: effects: %w", err)
	}
	return pgx.Identifier{schema, "projection_effects"}.Sanitize(), nil
}

func holdEmit(ctx context.Context, fd *effectsDelivery, stream string, evs []eventlog.EventData) error {
	held := make([]heldEvent, len(evs))
	for i, e := range evs {
		held[i] = heldEvent{ID: e.ID, Type: e.Type, Data: e.Data, Metadata: e.Metadata}
	}
	return hold(ctx, fd, kindEmit, stream, held)
}

func holdEnqueue(ctx context.Context, fd *effectsDelivery, queueName string, ms []queue.Outgoing) error {
	held := make([]heldMessage, len(ms))
	for i, m := range ms {
		held[i] = heldMessage{ID: m.ID, Payload: m.Payload, Headers: m.Headers, Priority: m.Priority, Delay: m.Delay,
			NotBefore: m.NotBefore, DedupKey: m.DedupKey, DedupWindow: m.DedupWindow}
	}
	return hold(ctx, fd, kindEnqueue, queueName, held)
}

// hold stores one held-back effect in the handler's transaction. Handling
// the event again (the build moved back) overwrites the same row.
func hold(ctx context.Context, fd *effectsDelivery, kind, target string, payload any) error {
	t, err := effectsTable(fd.fx.env.Schema)
	if err != nil {
		return err
	}
	b, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("projection %s: hold %s: %w", fd.fx.owner, kind, err)
	}
	pos := fd.source.Position
	if _, err := fd.tx.Exec(ctx, `INSERT INTO `+t+` (owner, tx_id, position, call, kind, target, payload)
		VALUES ($1, $2, $3, $4, $5, $6, $7::text::jsonb)
		ON CONFLICT (owner, tx_id, position, call) DO UPDATE
			SET kind = excluded.kind, target = excluded.target, payload = excluded.payload, created_at = now()`,
		fd.fx.owner, pos.TxID, pos.Seq, fd.calls, kind, target, string(b)); err != nil {
		return fmt.Errorf("projection %s: hold %s: %w", fd.fx.owner, kind, err)
	}
	return nil
}

// ReleaseEffects carries out, in tx and in log order, the effects owner
// held back whose source event comes after `after`, then deletes all of
// owner's held-back effects. It returns how many effects (Emit or Enqueue
// calls) it carried out.
//
// The builds code calls it in the transaction that makes owner's build
// live, with after = the previous live build's slowest checkpoint: events
// up to it had their effects from the previous build; those after it may
// have them too (its faster partitions), which is harmless, as effects
// have derived ids (see Emit, Enqueue). Call it after owner's partitions
// are locked and fenced, so no transaction of owner holds back more effects
// behind it.
//
// An effect the log or the queue refuses for good (an invalid event, an
// event id stored in another stream, an unknown queue, an invalid message)
// is skipped with a warning rather than failing the release: the same
// release would fail the same way on every try, and hold the build back for
// ever. Each effect runs in a savepoint so a refusal leaves tx usable. Any
// other error (the database, an append order conflict:
// eventlog.IsRetryable) is returned, and tx should be rolled back and the
// release tried again.
func ReleaseEffects(ctx context.Context, tx pgx.Tx, env EffectsEnv, owner string, after eventlog.Position) (int, error) {
	return releaseHeld(ctx, tx, env, owner, after, deadLetters{})
}

// deadLetters names a subscription's dead letters: the events it did not
// handle although its checkpoints are past them (failed, or parked behind
// a failed one), so it carried out none of their effects. The zero value
// names none.
type deadLetters struct {
	table string // sanitized: schema.dead_letters
	sub   string
}

func (dl deadLetters) args() []any {
	if dl.sub == "" {
		return nil
	}
	return []any{dl.sub}
}

// heldOf is the condition on the held-back effects (alias e) whose source
// event is one of dl's, with dl.sub as parameter $n; "false" for none.
func (dl deadLetters) heldOf(n int) string {
	if dl.sub == "" {
		return `false`
	}
	return fmt.Sprintf(`EXISTS (SELECT 1 FROM %s d WHERE d.subscription = $%d AND d.event_tx = e.tx_id AND d.event_pos = e.position)`, dl.table, n)
}

// releaseHeld is ReleaseEffects that also carries out the effects whose
// source event is one of also's dead letters, wherever it lies: the
// builds code passes the previous live build's, whose effects nobody
// carried out.
func releaseHeld(ctx context.Context, tx pgx.Tx, env EffectsEnv, owner string, after eventlog.Position, also deadLetters) (int, error) {
	t, err := effectsTable(env.Schema)
	if err != nil {
		return 0, err
	}
	rows, err := tx.Query(ctx, `SELECT tx_id, position, call, kind, target, payload::text FROM `+t+` e
		WHERE owner = $1 AND ((tx_id, position) > ($2::xid8, $3::bigint) OR `+also.heldOf(4)+`)
		ORDER BY tx_id, position, call`, append([]any{owner, after.TxID, after.Seq}, also.args()...)...)
	if err != nil {
		return 0, fmt.Errorf("projection: release effects of %s: %w", owner, err)
	}
	type heldRow struct {
		pos     eventlog.Position
		call    int
		kind    string
		target  string
		payload string
	}
	held, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (heldRow, error) {
		var h heldRow
		err := r.Scan(&h.pos.TxID, &h.pos.Seq, &h.call, &h.kind, &h.target, &h.payload)
		return h, err
	})
	if err != nil {
		return 0, fmt.Errorf("projection: release effects of %s: %w", owner, err)
	}
	n := 0
	for _, h := range held {
		err := releaseOne(ctx, tx, env, h.kind, h.target, []byte(h.payload))
		switch {
		case err == nil:
			n++
		case refused(err):
			slog.WarnContext(ctx, "causeway: held-back projection effect refused, skipped",
				"owner", owner, "source", h.pos.String(), "call", h.call, "kind", h.kind, "target", h.target, "err", err)
		default:
			return 0, fmt.Errorf("projection: release effects of %s: %s to %q (source %s): %w", owner, h.kind, h.target, h.pos, err)
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM `+t+` WHERE owner = $1`, owner); err != nil {
		return 0, fmt.Errorf("projection: release effects of %s: %w", owner, err)
	}
	return n, nil
}

// releaseOne carries out one held-back effect in a savepoint of tx.
func releaseOne(ctx context.Context, tx pgx.Tx, env EffectsEnv, kind, target string, payload []byte) error {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return err
	}
	if err := carryOut(ctx, sp, env, kind, target, payload); err != nil {
		if rerr := sp.Rollback(ctx); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	return sp.Commit(ctx)
}

func carryOut(ctx context.Context, tx pgx.Tx, env EffectsEnv, kind, target string, payload []byte) error {
	switch kind {
	case kindEmit:
		if env.Appender == nil {
			return fmt.Errorf("%w: no event log (EffectsEnv.Appender)", ErrNoEffects)
		}
		var held []heldEvent
		if err := json.Unmarshal(payload, &held); err != nil {
			return fmt.Errorf("decode held-back events: %w", err)
		}
		evs := make([]eventlog.EventData, len(held))
		for i, h := range held {
			evs[i] = eventlog.EventData{ID: h.ID, Type: h.Type, Data: h.Data, Metadata: h.Metadata}
		}
		return appendIdempotent(ctx, tx, env.Appender, target, evs)
	case kindEnqueue:
		if env.Queues == nil {
			return fmt.Errorf("%w: no queue store (EffectsEnv.Queues)", ErrNoEffects)
		}
		var held []heldMessage
		if err := json.Unmarshal(payload, &held); err != nil {
			return fmt.Errorf("decode held-back messages: %w", err)
		}
		ms := make([]queue.Outgoing, len(held))
		for i, h := range held {
			ms[i] = queue.Outgoing{ID: h.ID, Payload: h.Payload, Headers: h.Headers, Priority: h.Priority, Delay: h.Delay,
				NotBefore: h.NotBefore, DedupKey: h.DedupKey, DedupWindow: h.DedupWindow}
		}
		_, err := env.Queues.EnqueueTx(ctx, tx, target, ms...)
		return err
	}
	return fmt.Errorf("unknown kind of held-back effect %q", kind)
}

// refused reports a refusal of the effect itself, which trying again
// cannot cure.
func refused(err error) bool {
	if errors.Is(err, eventlog.ErrInvalidEvent) || errors.Is(err, eventlog.ErrDuplicateEventID) ||
		errors.Is(err, eventlog.ErrWrongExpectedVersion) || errors.Is(err, queue.ErrUnknownQueue) ||
		errors.Is(err, queue.ErrInvalidMessage) {
		return true
	}
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "54"))
}

// PruneEffects deletes owner's held-back effects whose source event is at
// or before upTo, returning how many (Emit or Enqueue calls) it deleted.
// While a build catches up, the builds code prunes up to the live build's
// slowest checkpoint: those effects can never be released (the release
// starts after a checkpoint at least as far), so the table stays small.
func PruneEffects(ctx context.Context, tx pgx.Tx, schema, owner string, upTo eventlog.Position) (int64, error) {
	return pruneHeld(ctx, tx, schema, owner, upTo, deadLetters{})
}

// pruneHeld is PruneEffects that keeps the effects whose source event is
// one of keep's dead letters (see releaseHeld).
func pruneHeld(ctx context.Context, tx pgx.Tx, schema, owner string, upTo eventlog.Position, keep deadLetters) (int64, error) {
	t, err := effectsTable(schema)
	if err != nil {
		return 0, err
	}
	tag, err := tx.Exec(ctx, `DELETE FROM `+t+` e WHERE owner = $1 AND (tx_id, position) <= ($2::xid8, $3::bigint)
		AND NOT `+keep.heldOf(4), append([]any{owner, upTo.TxID, upTo.Seq}, keep.args()...)...)
	if err != nil {
		return 0, fmt.Errorf("projection: prune effects of %s: %w", owner, err)
	}
	return tag.RowsAffected(), nil
}

// DropEffects deletes all of owner's held-back effects (a build aborted or
// dropped).
func DropEffects(ctx context.Context, tx pgx.Tx, schema, owner string) error {
	t, err := effectsTable(schema)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM `+t+` WHERE owner = $1`, owner); err != nil {
		return fmt.Errorf("projection: drop effects of %s: %w", owner, err)
	}
	return nil
}

// EffectsPositionColumns names the log positions held-back effects keep
// (their source events'), for eventlog/postgres's Store.Restamp.
func EffectsPositionColumns() []pgstore.PositionColumns {
	return []pgstore.PositionColumns{{Table: "projection_effects", TxID: "tx_id", Seq: "position"}}
}
