package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/runtime/ops"
)

func (c *cli) cmdMove(ctx context.Context, args []string) error {
	cfg := c.env()
	fs := c.flags("move", "SUBSCRIPTION (--to-start | --to-end | --to-position P | --to-time T)",
		"Move every partition of a subscription (a projection's, a saga's or any other) to the start of\n"+
			"the log, its end, a position, or just before the first event recorded at or after a time.\n"+
			"Running runners are fenced, as by replay: they roll their batch back and continue from there.\n"+
			"Dead letters of events after the new position are deleted (those events come again); those\n"+
			"at or before it stay. A projection's read model is not touched: moving back re-applies events.\n"+
			"Every move is recorded (see moves).", cfg)
	toStart := fs.Bool("to-start", false, "move to the start of the log: every event comes again")
	toEnd := fs.Bool("to-end", false, "move to the log's head now: every event so far is skipped")
	toPosition := fs.String("to-position", "", "move to a position (txid/seq, as status shows it; at most the head)")
	toTime := fs.String("to-time", "", "move to just before the first event recorded at or after this time (RFC 3339)")
	by := fs.String("by", ops.LocalActor(), "who asks, kept with the move")
	asJSON := fs.Bool("json", false, "print JSON")
	rest, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageErr("want exactly one SUBSCRIPTION")
	}
	if err := textArgs("SUBSCRIPTION", rest[0], "--by", *by, "--to-position", *toPosition, "--to-time", *toTime); err != nil {
		return err
	}
	var kinds []ops.MoveKind
	if *toStart {
		kinds = append(kinds, ops.MoveToStart)
	}
	if *toEnd {
		kinds = append(kinds, ops.MoveToEnd)
	}
	if *toPosition != "" {
		kinds = append(kinds, ops.MoveToPosition)
	}
	if *toTime != "" {
		kinds = append(kinds, ops.MoveToTime)
	}
	if len(kinds) != 1 {
		return usageErr("want exactly one of --to-start, --to-end, --to-position, --to-time")
	}
	target, err := ops.ParseMoveTarget(string(kinds[0]), *toPosition, *toTime)
	if err != nil {
		return usageErr("%v", err)
	}
	return c.withOps(ctx, cfg, func(ctx context.Context, o *ops.Ops) error {
		rec, err := o.Move(ctx, rest[0], target, *by)
		if err != nil {
			return err
		}
		if *asJSON {
			return c.printJSON(ops.NewMoveView(rec))
		}
		from := rec.FromMin.String()
		if rec.FromMax != rec.FromMin {
			from += " … " + rec.FromMax.String()
		}
		fmt.Fprintf(c.stdout, "moved %s from %s to %s (%s); %d dead letters of events after it deleted\n",
			rec.Subscription, from, rec.To, rec.Target, rec.DeadLettersDeleted)
		return nil
	})
}

func (c *cli) cmdMoves(ctx context.Context, args []string) error {
	cfg := c.env()
	fs := c.flags("moves", "[SUBSCRIPTION]", "List the recorded moves of a subscription (or of all), newest first.", cfg)
	limit := fs.Int("limit", 50, "at most this many")
	asJSON := fs.Bool("json", false, "print JSON")
	rest, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 1 {
		return usageErr("want at most one SUBSCRIPTION")
	}
	sub := ""
	if len(rest) == 1 {
		sub = rest[0]
	}
	if err := textArgs("SUBSCRIPTION", sub); err != nil {
		return err
	}
	if *limit < 1 {
		return usageErr("--limit %d: want 1 or more", *limit)
	}
	return c.withOps(ctx, cfg, func(ctx context.Context, o *ops.Ops) error {
		moves, more, err := onePage(*limit, func(n int) ([]checkpoint.MoveRecord, error) { return o.Moves(ctx, sub, n) })
		if err != nil {
			return err
		}
		if more {
			defer fmt.Fprintf(c.stderr, "showing the latest %d moves; raise --limit for more\n", len(moves))
		}
		if *asJSON {
			return c.printJSON(ops.NewMoveListView(moves))
		}
		return printRows(c, moves, "ID\tSUBSCRIPTION\tREQUESTED AT\tBY\tTARGET\tFROM\tTO\tDEAD LETTERS DELETED",
			func(m checkpoint.MoveRecord) []any {
				from := m.FromMin.String()
				if m.FromMax != m.FromMin {
					from += "…" + m.FromMax.String()
				}
				return []any{m.ID, m.Subscription, m.RequestedAt.UTC().Format(time.RFC3339), m.RequestedBy, m.Target, from, m.To, m.DeadLettersDeleted}
			})
	})
}
