package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/runtime/ops"
	"github.com/causewayhq/causeway/worker/queue"
)

func (c *cli) cmdQueues(ctx context.Context, args []string) error {
	sub, rest := "", args
	if len(args) > 0 {
		sub, rest = args[0], args[1:]
	}
	cfg := c.env()
	switch sub {
	case "list":
		fs := c.flags("queues list", "", "List the declared queues with their contents: depth (not acked nor dead), ready,\nin flight, dead letters and how long the oldest ready message has waited,\nand their configuration.", cfg)
		asJSON := fs.Bool("json", false, "print JSON")
		if err := c.parseNone(fs, rest); err != nil {
			return err
		}
		return c.withOps(ctx, cfg, func(ctx context.Context, o *ops.Ops) error {
			qs, err := o.Queues(ctx)
			if err != nil {
				return err
			}
			if *asJSON {
				return c.printJSON(ops.NewQueueListView(qs))
			}
			return printRows(c, qs, "QUEUE\tDEPTH\tREADY\tIN FLIGHT\tDEAD\tOLDEST READY\tVISIBILITY\tMAX ATTEMPTS\tRETENTION",
				func(q ops.Queue) []any {
					return []any{q.Config.Name, q.Stats.Depth, q.Stats.Ready, q.Stats.InFlight, q.Stats.Dead,
						age(q.Stats.OldestReadyAge), q.Config.VisibilityTimeout, q.Config.MaxAttempts, retention(q.Config.Retention)}
				})
		})
	case "dead":
		fs := c.flags("queues dead", "QUEUE", "List a queue's dead letters (messages that used up their attempts), by id.", cfg)
		after := fs.String("after", "", "page: ids after this one")
		limit := fs.Int("limit", 50, "at most this many")
		asJSON := fs.Bool("json", false, "print JSON")
		pos, err := c.parse(fs, rest)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usageErr("want a QUEUE")
		}
		if err := queueName(pos[0]); err != nil {
			return err
		}
		if *limit < 1 {
			return usageErr("--limit %d: want 1 or more", *limit)
		}
		afterID := uuid.Nil
		if *after != "" {
			if afterID, err = uuid.Parse(*after); err != nil {
				return usageErr("--after %q is not a message id", *after)
			}
		}
		return c.withOps(ctx, cfg, func(ctx context.Context, o *ops.Ops) error {
			dls, more, err := onePage(*limit, func(n int) ([]queue.DeadLetter, error) {
				return o.QueueDeadLetters(ctx, pos[0], afterID, n)
			})
			if err != nil {
				return err
			}
			if more {
				defer c.morePages(len(dls), "dead letters", dls[len(dls)-1].ID.String())
			}
			if *asJSON {
				return c.printJSON(ops.NewQueueDeadLetterListView(dls, more))
			}
			return printRows(c, dls, "ID\tATTEMPTS\tPRIORITY\tENQUEUED\tDEAD\tLAST ERROR",
				func(d queue.DeadLetter) []any {
					return []any{d.ID, d.Attempts, d.Priority, d.EnqueuedAt.UTC().Format(time.RFC3339),
						d.DeadAt.UTC().Format(time.RFC3339), firstLine(d.LastError, 60)}
				})
		})
	case "show", "requeue", "discard":
		fs := c.flags("queues "+sub, "QUEUE ID", map[string]string{
			"show":    "Show a dead letter of a queue: its payload, headers and last error.",
			"requeue": "Make a dead letter a ready message again, with its attempts reset.",
			"discard": "Delete a dead letter.",
		}[sub], cfg)
		pos, err := c.parse(fs, rest)
		if err != nil {
			return err
		}
		if len(pos) != 2 {
			return usageErr("want QUEUE ID")
		}
		if err := queueName(pos[0]); err != nil {
			return err
		}
		id, err := uuid.Parse(pos[1])
		if err != nil {
			return usageErr("%q is not a message id", pos[1])
		}
		return c.withOps(ctx, cfg, func(ctx context.Context, o *ops.Ops) error {
			switch sub {
			case "requeue":
				if err := o.RequeueQueueDeadLetter(ctx, pos[0], id); err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "dead letter %s of queue %s requeued: ready now, attempts reset\n", id, pos[0])
				return nil
			case "discard":
				if err := o.DiscardQueueDeadLetter(ctx, pos[0], id); err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "dead letter %s of queue %s discarded\n", id, pos[0])
				return nil
			}
			d, err := o.QueueDeadLetter(ctx, pos[0], id)
			if err != nil {
				return err
			}
			return c.printJSON(ops.NewQueueDeadLetterView(d))
		})
	case "-h", "--help", "help":
		fmt.Fprintf(c.stdout, "Usage: %s queues list|dead|show|requeue|discard [flags]\n\nRun '%s queues <sub-command> --help' for flags.\n", c.prog, c.prog)
		return nil
	}
	return usageErr("want a sub-command: list, dead, show, requeue or discard")
}

// queueName refuses what cannot be a queue's name, as a usage mistake.
func queueName(name string) error {
	if err := queue.ValidateName(name); err != nil {
		return usageErr("queue name %q: %v", name, err)
	}
	return nil
}

// age renders how long the oldest ready message waited ("-" for none).
func age(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return d.Round(time.Millisecond).String()
}

// retention renders a queue's retention ("-": deleted on ack).
func retention(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return d.String()
}
