package ops

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
)

// MoveKind names where a move goes.
type MoveKind string

// The targets of a move.
const (
	// MoveToStart: the start of the log (every event comes again).
	MoveToStart MoveKind = "start"
	// MoveToEnd: the log's head now (every event so far is skipped).
	MoveToEnd MoveKind = "end"
	// MoveToPosition: a global position, at most the head.
	MoveToPosition MoveKind = "position"
	// MoveToTime: just before the first event (in log order) recorded at
	// or after a time; the head when there is none.
	MoveToTime MoveKind = "time"
)

// MoveTarget is where an operator moves a subscription: Position is for
// MoveToPosition, Time for MoveToTime.
type MoveTarget struct {
	Kind     MoveKind
	Position eventlog.Position
	Time     time.Time
}

// ErrInvalidMove is a malformed move target or a position beyond the log's
// head: the caller's mistake (the API answers 400).
var ErrInvalidMove = errors.New("invalid move target")

// ParseMoveTarget reads a target as the command line and the API take it:
// to is start, end, position or time; position ("txid/seq") goes with
// position only, and t (RFC 3339) with time only.
func ParseMoveTarget(to, position, t string) (MoveTarget, error) {
	k := MoveKind(to)
	switch k {
	case MoveToStart, MoveToEnd, MoveToPosition, MoveToTime:
	default:
		return MoveTarget{}, fmt.Errorf("%w: %q (want start, end, position or time)", ErrInvalidMove, to)
	}
	if position != "" && k != MoveToPosition {
		return MoveTarget{}, fmt.Errorf("%w: a position goes with a move to a position only", ErrInvalidMove)
	}
	if t != "" && k != MoveToTime {
		return MoveTarget{}, fmt.Errorf("%w: a time goes with a move to a time only", ErrInvalidMove)
	}
	mt := MoveTarget{Kind: k}
	switch k {
	case MoveToPosition:
		p, err := eventlog.ParsePosition(position)
		if err != nil {
			return MoveTarget{}, fmt.Errorf("%w: position %q: want txid/seq as status shows it", ErrInvalidMove, position)
		}
		mt.Position = p
	case MoveToTime:
		at, err := time.Parse(time.RFC3339Nano, t)
		if err != nil {
			return MoveTarget{}, fmt.Errorf("%w: time %q: want RFC 3339, e.g. 2026-01-02T15:04:05Z", ErrInvalidMove, t)
		}
		mt.Time = at
	}
	return mt, nil
}

// describe is the target as recorded with the move.
func (t MoveTarget) describe() string {
	switch t.Kind {
	case MoveToTime:
		return "time " + t.Time.UTC().Format(time.RFC3339Nano)
	case MoveToPosition:
		return "position " + t.Position.String()
	}
	return string(t.Kind)
}

// Move moves a subscription (any: a projection's, a saga's, a plain one)
// to target, on behalf of by: every partition's checkpoint set to the
// resolved position, fenced like a replay (running members lose their
// partitions at their next commit, roll that batch back and continue from
// there), the dead letters of events after it deleted, and the move
// recorded (checkpoint.Store.Move). Unknown subscription:
// checkpoint.ErrNotFound; a position beyond the head: ErrInvalidMove.
func (o *Ops) Move(ctx context.Context, sub string, target MoveTarget, by string) (checkpoint.MoveRecord, error) {
	if err := o.CheckSubscription(ctx, sub); err != nil {
		return checkpoint.MoveRecord{}, err
	}
	to, err := o.resolveMove(ctx, target)
	if err != nil {
		return checkpoint.MoveRecord{}, err
	}
	if strings.TrimSpace(by) == "" {
		by = "unknown"
	}
	rec, err := o.cfg.Checkpoints.Move(ctx, sub, checkpoint.MoveRequest{To: to, Target: target.describe(), By: by})
	if err != nil {
		return rec, err
	}
	o.cfg.Logger.Info("causeway: subscription moved", "subscription", sub, "target", rec.Target,
		"from_min", rec.FromMin.String(), "from_max", rec.FromMax.String(), "to", rec.To.String(),
		"dead_letters_deleted", rec.DeadLettersDeleted, "by", rec.RequestedBy)
	return rec, nil
}

// resolveMove turns a target into a position that is safe as a checkpoint:
// Start or at most the head (a position beyond the last visible event
// could end up ahead of events committed later; see eventlog.Position).
func (o *Ops) resolveMove(ctx context.Context, t MoveTarget) (eventlog.Position, error) {
	switch t.Kind {
	case MoveToStart:
		return eventlog.Start, nil
	case MoveToEnd:
		return o.cfg.Log.Head(ctx)
	case MoveToPosition:
		head, err := o.cfg.Log.Head(ctx)
		if err != nil {
			return eventlog.Start, err
		}
		if head.Before(t.Position) {
			return eventlog.Start, fmt.Errorf("%w: position %s is past the log's head %s", ErrInvalidMove, t.Position, head)
		}
		return t.Position, nil
	case MoveToTime:
		return o.cfg.Log.PositionAt(ctx, t.Time)
	}
	return eventlog.Start, fmt.Errorf("%w: %q (want start, end, position or time)", ErrInvalidMove, t.Kind)
}

// Moves lists the recorded moves of a subscription ("" = all), newest
// first, at most limit (0 = checkpoint.DefaultMovesLimit). An unknown
// subscription is checkpoint.ErrNotFound.
func (o *Ops) Moves(ctx context.Context, sub string, limit int) ([]checkpoint.MoveRecord, error) {
	if sub != "" {
		if err := o.CheckSubscription(ctx, sub); err != nil {
			return nil, err
		}
	}
	return o.cfg.Checkpoints.Moves(ctx, sub, limit)
}

// MoveView is a recorded move (POST /api/subscriptions/{name}/move, the
// items of GET …/moves, move --json).
type MoveView struct {
	ID           int64  `json:"id"`
	Subscription string `json:"subscription"`
	// FromMin and FromMax are the lowest and highest partition checkpoints
	// before the move.
	FromMin            string `json:"from_min"`
	FromMax            string `json:"from_max"`
	To                 string `json:"to"`
	Target             string `json:"target"`
	RequestedBy        string `json:"requested_by"`
	RequestedAt        string `json:"requested_at"`
	DeadLettersDeleted int    `json:"dead_letters_deleted"`
}

// NewMoveView renders m.
func NewMoveView(m checkpoint.MoveRecord) MoveView {
	return MoveView{ID: m.ID, Subscription: m.Subscription, FromMin: m.FromMin.String(), FromMax: m.FromMax.String(),
		To: m.To.String(), Target: m.Target, RequestedBy: m.RequestedBy, RequestedAt: timestamp(m.RequestedAt),
		DeadLettersDeleted: m.DeadLettersDeleted}
}

// MoveListView lists moves, newest first.
type MoveListView struct {
	Moves []MoveView `json:"moves"`
}

// NewMoveListView renders ms.
func NewMoveListView(ms []checkpoint.MoveRecord) MoveListView {
	v := MoveListView{Moves: make([]MoveView, 0, len(ms))}
	for _, m := range ms {
		v.Moves = append(v.Moves, NewMoveView(m))
	}
	return v
}
