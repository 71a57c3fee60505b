package cli

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"time"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/runtime/ops"
)

// dlqAction is `dlq retry` and `dlq discard`: one dead letter
// (SUBSCRIPTION ID), or every dead letter a filter selects (--subscription
// and filters, confirmed with --all).
func (c *cli) dlqAction(ctx context.Context, action string, args []string, cfg Settings) error {
	fs := c.flags("dlq "+action, "SUBSCRIPTION ID | --subscription S [filters] --all", map[string]string{
		"retry": "Ask the partition's owner to re-deliver the dead letter's key, all of its dead letters in order.\n" +
			"With --subscription and filters instead of SUBSCRIPTION ID, retry every key with a matching\ndead letter (confirm with --all).",
		"discard": "Drop a dead letter without handling it; its event is remembered (by id, with --by) so no\n" +
			"replay or rebuild delivers it again. Discarding a key's first dead letter releases the ones\n" +
			"parked behind it (re-delivered in order). With --subscription and filters instead of\nSUBSCRIPTION ID, discard every matching dead letter (confirm with --all).",
	}[action], cfg)
	var f checkpoint.DeadLetterFilter
	fs.StringVar(&f.Subscription, "subscription", "", "bulk: the subscription (required)")
	part := fs.Int("partition", -1, "bulk: only this partition")
	fs.StringVar(&f.Key, "key", "", "bulk: only this key")
	fs.StringVar(&f.Type, "type", "", "bulk: only this event type")
	fs.StringVar(&f.ErrorContains, "error", "", "bulk: only dead letters whose error contains this (ignoring case)")
	after := fs.String("failed-after", "", "bulk: only dead letters recorded at or after this time (RFC 3339)")
	before := fs.String("failed-before", "", "bulk: only dead letters recorded before this time (RFC 3339)")
	all := fs.Bool("all", false, "bulk: confirm acting on every matching dead letter")
	asJSON := fs.Bool("json", false, "print JSON")
	var by *string
	if action == "discard" {
		by = fs.String("by", ops.LocalActor(), "who discards, as recorded")
	}
	pos, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	bulk := bulkFlagsSet(fs)
	if len(pos) > 0 {
		if len(pos) != 2 {
			return usageErr("want SUBSCRIPTION ID, or --subscription S [filters] --all")
		}
		if bulk {
			return usageErr("give either SUBSCRIPTION ID or --subscription and filters, not both")
		}
		return c.dlqActOne(ctx, cfg, action, pos[0], pos[1], by, *asJSON)
	}
	if f.Subscription == "" {
		return usageErr("want SUBSCRIPTION ID, or --subscription S [filters] --all")
	}
	if err := textArgs("--subscription", f.Subscription, "--key", f.Key, "--type", f.Type, "--error", f.ErrorContains); err != nil {
		return err
	}
	if *part >= 0 {
		f.Partition = part
	}
	if f.FailedAfter, err = flagTime("--failed-after", *after); err != nil {
		return err
	}
	if f.FailedBefore, err = flagTime("--failed-before", *before); err != nil {
		return err
	}
	if err := f.Validate(); err != nil {
		return usageErr("%v", err)
	}
	if !*all {
		return usageErr("%s acts on every dead letter of %s the filters select: confirm with --all", action, f.Subscription)
	}
	who := ""
	if by != nil {
		who = *by
	}
	return c.withOps(ctx, cfg, func(ctx context.Context, o *ops.Ops) error {
		var res checkpoint.BulkResult
		var err error
		if action == "retry" {
			res, err = o.RetryDeadLetters(ctx, f)
		} else {
			res, err = o.DiscardDeadLetters(ctx, f, who)
		}
		if err != nil {
			return err
		}
		if *asJSON {
			return c.printJSON(ops.NewBulkActionView(f.Subscription, action, who, res))
		}
		if action == "retry" {
			fmt.Fprintf(c.stdout, "retry requested for %d keys of %s (%d dead letters, each key re-delivered in order)\n",
				res.Keys, f.Subscription, res.DeadLetters)
		} else {
			fmt.Fprintf(c.stdout, "%d dead letters of %s discarded by %s; %d keys released (their parked dead letters are re-delivered in order)\n",
				res.DeadLetters, f.Subscription, who, res.Keys)
		}
		return nil
	})
}

// dlqActOne retries or discards one dead letter.
func (c *cli) dlqActOne(ctx context.Context, cfg Settings, action, sub, idText string, by *string, asJSON bool) error {
	if err := textArgs("SUBSCRIPTION", sub); err != nil {
		return err
	}
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || id <= 0 {
		return usageErr("dead letter id %q is not a positive number", idText)
	}
	return c.withOps(ctx, cfg, func(ctx context.Context, o *ops.Ops) error {
		v := ops.DeadLetterActionView{Subscription: sub, ID: id, Action: action}
		if action == "retry" {
			if err := o.RetryDeadLetter(ctx, sub, id); err != nil {
				return err
			}
			v.Status = fmt.Sprintf("retry requested for dead letter %d of %s (its key is re-delivered in order)", id, sub)
		} else {
			if err := o.DiscardDeadLetter(ctx, sub, id, *by); err != nil {
				return err
			}
			v.Status = fmt.Sprintf("dead letter %d of %s discarded by %s (its event is remembered)", id, sub, *by)
		}
		if asJSON {
			return c.printJSON(v)
		}
		fmt.Fprintln(c.stdout, v.Status)
		return nil
	})
}

// bulkFlagsSet reports whether any flag of the bulk form was given.
func bulkFlagsSet(fs *flag.FlagSet) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "subscription", "partition", "key", "type", "error", "failed-after", "failed-before", "all":
			set = true
		}
	})
	return set
}

// flagTime parses an RFC 3339 time flag ("" is the zero time).
func flagTime(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, usageErr("%s %q: want an RFC 3339 time (2006-01-02T15:04:05Z)", name, s)
	}
	return t, nil
}

// dlqDiscarded is `dlq discarded`: the discards remembered for a
// subscription's lineage, with who made them.
func (c *cli) dlqDiscarded(ctx context.Context, args []string, cfg Settings) error {
	fs := c.flags("dlq discarded", "SUBSCRIPTION", "List the events discarded for a subscription's lineage (never delivered again), with who\ndiscarded them and when.", cfg)
	q := checkpoint.DiscardedQuery{}
	fs.Int64Var(&q.AfterID, "after", 0, "page: ids after this one")
	fs.IntVar(&q.Limit, "limit", 50, "at most this many")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("want a SUBSCRIPTION")
	}
	if err := textArgs("SUBSCRIPTION", pos[0]); err != nil {
		return err
	}
	if q.Limit < 1 {
		return usageErr("--limit %d: want 1 or more", q.Limit)
	}
	q.Subscription = pos[0]
	return c.withOps(ctx, cfg, func(ctx context.Context, o *ops.Ops) error {
		ds, more, err := onePage(q.Limit, func(n int) ([]checkpoint.DiscardedEvent, error) {
			q.Limit = n
			return o.DiscardedEvents(ctx, q)
		})
		if err != nil {
			return err
		}
		if more {
			defer c.morePages(len(ds), "discarded events", fmt.Sprint(ds[len(ds)-1].ID))
		}
		if *asJSON {
			return c.printJSON(ops.NewDiscardedListView(ds, more))
		}
		return printRows(c, ds, "ID\tSUBSCRIPTION\tPARTITION\tKEY\tEVENT\tTYPE\tDISCARDED\tBY\tERROR",
			func(d checkpoint.DiscardedEvent) []any {
				return []any{d.ID, d.Subscription, d.Partition, d.Key, d.EventID, d.Type,
					d.DiscardedAt.Format(time.RFC3339), d.DiscardedBy, firstLine(d.Error, 60)}
			})
	})
}
