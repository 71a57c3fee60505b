package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	goruntime "runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/projection"
	"github.com/causewayhq/causeway/runtime/ops"
	"github.com/causewayhq/causeway/saga"
)

func (c *cli) cmdRun(ctx context.Context, args []string) error {
	cfg := c.env()
	fs := c.flags("run", "", "Run every registered projection, saga and subscription until SIGINT or SIGTERM,\nthen stop gracefully (finish in-flight batches, release leases).", cfg)
	if cfg != nil {
		cfg.BindRunFlags(fs)
	}
	if err := c.parseNone(fs, args); err != nil {
		return err
	}
	r, err := cfg.Open(ctx, true)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while connecting: a stop is how run ends
		}
		return err
	}
	defer r.Close()
	return r.Run(ctx)
}

func (c *cli) cmdMigrate(ctx context.Context, args []string) error {
	cfg := c.env()
	fs := c.flags("migrate", "", "Apply Causeway's migrations (idempotent, under an advisory lock) and the projections' set-up.", cfg)
	if err := c.parseNone(fs, args); err != nil {
		return err
	}
	r, err := cfg.Open(ctx, false)
	if err != nil {
		return err
	}
	defer r.Close()
	applied, err := r.Migrate(ctx)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintf(c.stdout, "schema %s is up to date\n", cfg.Schema())
	} else {
		fmt.Fprintf(c.stdout, "schema %s: applied migrations %v\n", cfg.Schema(), applied)
	}
	return nil
}

func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (c *cli) cmdStatus(ctx context.Context, args []string) error {
	cfg := c.env()
	fs := c.flags("status", "", "Show every subscription's state, lag and dead letters, each partition's owner,\nepoch and checkpoint, saga counts, and what holds the log's horizon back.", cfg)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := c.parseNone(fs, args); err != nil {
		return err
	}
	var st ops.Status
	var registered []string
	if err := c.withOps(ctx, cfg, func(ctx context.Context, o *ops.Ops) error {
		var err error
		st, err = o.Status(ctx)
		registered = o.Registered()
		return err
	}); err != nil {
		return err
	}
	if *asJSON {
		return c.printJSON(ops.NewStatusView(st, registered))
	}
	fmt.Fprintf(c.stdout, "log head %s\n", st.Head)
	if st.Horizon.Held {
		fmt.Fprintf(c.stdout, "horizon held by pid %d (xid %d, %s, %s) for %s: %s\n", st.Horizon.PID, st.Horizon.XID,
			st.Horizon.State, st.Horizon.Application, st.Horizon.Age.Round(time.Millisecond), st.Horizon.Query)
	} else {
		fmt.Fprintln(c.stdout, "horizon not held (no open write transaction)")
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nSUBSCRIPTION\tSTATE\tLAG EVENTS\tLAG SECONDS\tDEAD LETTERS\tMEMBERS")
	for _, s := range st.Subscriptions {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.1f\t%d\t%d\n", s.Name, s.State, s.LagEvents, s.LagSeconds, s.DeadLetters, len(s.Members))
	}
	fmt.Fprintln(tw, "\nSUBSCRIPTION\tPARTITION\tOWNER\tEPOCH\tCHECKPOINT\tLAG EVENTS\tSTATE")
	for _, s := range st.Subscriptions {
		for _, p := range s.Partitions {
			owner := p.Owner
			if owner == "" {
				owner = "-"
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\t%d\t%s\n", s.Name, p.Partition, owner, p.Epoch, p.Checkpoint, p.LagEvents, p.State)
		}
	}
	if len(st.Sagas) > 0 {
		fmt.Fprintln(tw, "\nSAGA\tRUNNING\tWAITING\tCOMPENSATING\tCOMPLETED\tCOMPENSATED\tFAILED\tCANCELLED")
		for name, n := range st.Sagas {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", name, n[saga.StatusRunning], n[saga.StatusWaiting], n[saga.StatusCompensating],
				n[saga.StatusCompleted], n[saga.StatusCompensated], n[saga.StatusFailed], n[saga.StatusCancelled])
		}
	}
	if len(st.Builds) > 0 {
		fmt.Fprintln(tw, "\nPROJECTION\tBUILD\tVERSION\tSTATE\tDONE\tTOTAL\tEVENTS/S\tETA\tSCHEMA")
		for _, b := range st.Builds {
			if b.State == projection.BuildDropped || b.State == projection.BuildAborted {
				continue // history: rebuild status lists it
			}
			eta := "-"
			if d := b.ETA(); d > 0 {
				eta = d.Round(time.Second).String()
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d\t%d\t%.0f\t%s\t%s\n", b.Projection, b.Build, b.Version, b.State, b.Done, b.Total, b.Rate, eta, b.Schema)
		}
	}
	return tw.Flush()
}

func (c *cli) cmdReplay(ctx context.Context, args []string) error {
	cfg := c.env()
	fs := c.flags("replay", "NAME", "Rebuild one projection: reset its read model and checkpoints in one transaction\n(fencing running workers of it), then catch up from the start here, with progress.\nOther subscriptions are untouched.", cfg)
	noCatchUp := fs.Bool("no-catch-up", false, "only reset; let running runners rebuild it")
	rest, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageErr("want exactly one projection name (registered: %s)", strings.Join(c.projectionNames(), ", "))
	}
	r, err := cfg.Open(ctx, false)
	if err != nil {
		return err
	}
	defer r.Close()
	if _, err := r.Migrate(ctx); err != nil {
		return err
	}
	res, err := r.Ops().Replay(ctx, rest[0], !*noCatchUp, c.stderr)
	if err != nil {
		return err
	}
	if *noCatchUp {
		fmt.Fprintf(c.stdout, "projection %s reset; %d events to replay by the running runners\n", rest[0], res.Events)
		return nil
	}
	rate := 0.0
	if s := res.Duration.Seconds(); s > 0 {
		rate = float64(res.Events) / s
	}
	fmt.Fprintf(c.stdout, "projection %s replayed: %d events in %s (%.0f events/s)\n", rest[0], res.Events, res.Duration.Round(time.Millisecond), rate)
	return nil
}

func (c *cli) projectionNames() []string {
	if len(c.p.Projections) == 0 {
		return []string{"none"}
	}
	return c.p.Projections
}

func (c *cli) cmdDLQ(ctx context.Context, args []string) error {
	sub, rest := "", args
	if len(args) > 0 {
		sub, rest = args[0], args[1:]
	}
	cfg := c.env()
	switch sub {
	case "list":
		fs := c.flags("dlq list", "", "List dead letters, oldest first.", cfg)
		q := checkpoint.DeadLetterQuery{}
		fs.StringVar(&q.Subscription, "subscription", "", "only this subscription")
		part := fs.Int("partition", -1, "only this partition")
		fs.StringVar(&q.Key, "key", "", "only this key")
		fs.Int64Var(&q.AfterID, "after", 0, "page: ids after this one")
		fs.IntVar(&q.Limit, "limit", 50, "at most this many")
		asJSON := fs.Bool("json", false, "print JSON")
		if err := c.parseNone(fs, rest); err != nil {
			return err
		}
		if err := textArgs("--subscription", q.Subscription, "--key", q.Key); err != nil {
			return err
		}
		if *part >= 0 {
			q.Partition = part
		}
		if q.Limit < 1 {
			return usageErr("--limit %d: want 1 or more", q.Limit)
		}
		return c.withOps(ctx, cfg, func(ctx context.Context, o *ops.Ops) error {
			dls, more, err := onePage(q.Limit, func(n int) ([]checkpoint.DeadLetter, error) {
				q.Limit = n
				return o.DeadLetters(ctx, q)
			})
			if err != nil {
				return err
			}
			if more {
				defer c.morePages(len(dls), "dead letters", fmt.Sprint(dls[len(dls)-1].ID))
			}
			if *asJSON {
				return c.printJSON(ops.NewDeadLetterListView(dls, more))
			}
			return printRows(c, dls, "ID\tSUBSCRIPTION\tPARTITION\tKEY\tEVENT\tTYPE\tSTATE\tATTEMPTS\tLAST FAILURE\tERROR",
				func(d checkpoint.DeadLetter) []any {
					state := ops.DeadLetterState(d)
					if d.Retrying() {
						state += " (next " + d.NextAttemptAt.Format(time.RFC3339) + ")"
					}
					return []any{d.ID, d.Subscription, d.Partition, d.Key, d.EventID, d.Type,
						state, d.Attempts, d.LastFailedAt.Format(time.RFC3339), firstLine(d.Error, 60)}
				})
		})
	case "retry", "discard":
		return c.dlqAction(ctx, sub, rest, cfg)
	case "discarded":
		return c.dlqDiscarded(ctx, rest, cfg)
	case "show":
		fs := c.flags("dlq show", "SUBSCRIPTION ID", "Show a dead letter with its event and full error.", cfg)
		pos, err := c.parse(fs, rest)
		if err != nil {
			return err
		}
		if len(pos) != 2 {
			return usageErr("want SUBSCRIPTION ID")
		}
		if err := textArgs("SUBSCRIPTION", pos[0]); err != nil {
			return err
		}
		id, err := strconv.ParseInt(pos[1], 10, 64)
		if err != nil || id <= 0 {
			return usageErr("dead letter id %q is not a positive number", pos[1])
		}
		return c.withOps(ctx, cfg, func(ctx context.Context, o *ops.Ops) error {
			dl, ev, err := o.DeadLetter(ctx, pos[0], id)
			if err != nil {
				return err
			}
			v := ops.NewDeadLetterView(dl)
			if ev != nil {
				v.Event = ops.NewEventView(*ev)
			}
			return c.printJSON(v)
		})
	case "-h", "--help", "help":
		fmt.Fprintf(c.stdout, "Usage: %s dlq list|show|retry|discard|discarded [flags]\n\nRun '%s dlq <sub-command> --help' for flags.\n", c.prog, c.prog)
		return nil
	}
	return usageErr("want a sub-command: list, show, retry, discard or discarded")
}

func (c *cli) cmdSagas(ctx context.Context, args []string) error {
	sub, rest := "", args
	if len(args) > 0 {
		sub, rest = args[0], args[1:]
	}
	cfg := c.env()
	switch sub {
	case "list":
		fs := c.flags("sagas list", "", "List saga instances.", cfg)
		var q saga.Query
		fs.StringVar(&q.Type, "type", "", "only this saga type")
		status := fs.String("status", "", "only this status ("+statusNames()+")")
		fs.StringVar(&q.CorrelationID, "correlation-id", "", "only this correlation id")
		fs.IntVar(&q.Limit, "limit", 50, "at most this many")
		after := fs.String("after", "", "page: ids after this one")
		asJSON := fs.Bool("json", false, "print JSON")
		if err := c.parseNone(fs, rest); err != nil {
			return err
		}
		if q.Limit < 1 {
			return usageErr("--limit %d: want 1 or more", q.Limit)
		}
		if err := textArgs("--type", q.Type, "--correlation-id", q.CorrelationID); err != nil {
			return err
		}
		q.Status = saga.Status(*status)
		if *status != "" && !q.Status.Valid() {
			return usageErr("unknown status %q (want one of %s)", *status, statusNames())
		}
		if *after != "" {
			id, err := uuid.Parse(*after)
			if err != nil {
				return usageErr("--after %q is not a saga id", *after)
			}
			q.After = id
		}
		return c.withOps(ctx, cfg, func(ctx context.Context, o *ops.Ops) error {
			list, more, err := onePage(q.Limit, func(n int) ([]saga.Instance, error) {
				q.Limit = n
				return o.Sagas(ctx, q)
			})
			if err != nil {
				return err
			}
			if more {
				defer c.morePages(len(list), "saga instances", list[len(list)-1].ID.String())
			}
			if *asJSON {
				return c.printJSON(ops.NewSagaListView(list, more))
			}
			return printRows(c, list, "ID\tTYPE\tCORRELATION\tSTATUS\tSTEP\tATTEMPTS\tUPDATED\tLAST ERROR",
				func(s saga.Instance) []any {
					return []any{s.ID, s.Type, s.CorrelationID, s.Status, s.Step, s.Attempts,
						s.UpdatedAt.Format(time.RFC3339), firstLine(s.LastError, 60)}
				})
		})
	case "show", "retry", "resume", "cancel":
		fs := c.flags("sagas "+sub, "ID", map[string]string{
			"show":   "Show a saga with its state and the history of every step attempt.",
			"retry":  "Run the saga's current step again now (a failed compensation gets fresh attempts).",
			"resume": "Continue compensating a failed saga past the compensation that failed (done by hand).",
			"cancel": "Compensate a running or waiting saga; give up a failed one (cancelled).",
		}[sub], cfg)
		pos, err := c.parse(fs, rest)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usageErr("want a saga ID")
		}
		id, err := uuid.Parse(pos[0])
		if err != nil {
			return usageErr("%q is not a saga id", pos[0])
		}
		return c.withOps(ctx, cfg, func(ctx context.Context, o *ops.Ops) error {
			var inst saga.Instance
			var err error
			switch sub {
			case "show":
				d, err := o.Saga(ctx, id)
				if err != nil {
					return err
				}
				return c.printJSON(ops.NewSagaDetailsView(d))
			case "retry":
				inst, err = o.RetrySaga(ctx, id)
			case "resume":
				inst, err = o.ResumeSaga(ctx, id)
			case "cancel":
				inst, err = o.CancelSaga(ctx, id)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "saga %s is now %s\n", id, inst.Status)
			return nil
		})
	case "-h", "--help", "help":
		fmt.Fprintf(c.stdout, "Usage: %s sagas list|show|retry|resume|cancel [flags]\n\nRun '%s sagas <sub-command> --help' for flags.\n", c.prog, c.prog)
		return nil
	}
	return usageErr("want a sub-command: list, show, retry, resume or cancel")
}

// textArgs refuses arguments (name, value pairs) that PostgreSQL cannot
// take as text: invalid UTF-8 (a NUL cannot be in an argument).
func textArgs(nameValues ...string) error {
	for i := 0; i+1 < len(nameValues); i += 2 {
		if !utf8.ValidString(nameValues[i+1]) {
			return usageErr("%s %q: not valid UTF-8", nameValues[i], nameValues[i+1])
		}
	}
	return nil
}

// statusNames lists the saga statuses for messages: "running, waiting, …".
func statusNames() string {
	names := make([]string, len(saga.Statuses))
	for i, st := range saga.Statuses {
		names[i] = string(st)
	}
	return strings.Join(names, ", ")
}

// withOps opens the runtime and runs fn on its Ops, all within the
// command timeout, explaining a timeout and a schema that was never
// migrated.
func (c *cli) withOps(ctx context.Context, cfg Settings, fn func(context.Context, *ops.Ops) error) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.CommandTimeout())
	defer cancel()
	r, err := cfg.Open(ctx, false)
	if err != nil {
		return err
	}
	defer r.Close()
	err = fn(ctx, r.Ops())
	if err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		return fmt.Errorf("database %s: no answer within %v (set --command-timeout or CAUSEWAY_COMMAND_TIMEOUT): %w",
			cfg.RedactedURL(), cfg.CommandTimeout(), err)
	}
	return c.notMigrated(err, cfg.Schema())
}

// onePage fetches at most limit items, asking for one more to tell
// whether another page follows.
func onePage[T any](limit int, fetch func(n int) ([]T, error)) ([]T, bool, error) {
	items, err := fetch(limit + 1)
	if err != nil || len(items) <= limit {
		return items, false, err
	}
	return items[:limit], true, nil
}

// morePages says, on stderr (stdout stays data), that a list was cut at
// its limit and how to see the rest.
func (c *cli) morePages(limit int, what, last string) {
	fmt.Fprintf(c.stderr, "showing the first %d %s; more match: see the next page with --after %s, or raise --limit\n", limit, what, last)
}

// printRows prints rows as a table: the header, then the cells of each
// row.
func printRows[T any](c *cli, rows []T, header string, cells func(T) []any) error {
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		for i, cell := range cells(r) {
			if i > 0 {
				fmt.Fprint(tw, "\t")
			}
			fmt.Fprint(tw, cell)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

func firstLine(s string, n int) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}

func (c *cli) cmdRestamp(ctx context.Context, args []string) error {
	cfg := c.env()
	fs := c.flags("restamp", "", "After restoring a pg_dump or moving the database to another cluster (logical\n"+
		"replication), the stored transaction ids mean nothing there and readers may see\nno events. Restamp renumbers every event in its current global order below all\n"+
		"new transaction ids and maps every stored checkpoint to the same events.\nStop all runners first: it locks the events table.", cfg)
	yes := fs.Bool("yes", false, "confirm: no runner is running")
	if err := c.parseNone(fs, args); err != nil {
		return err
	}
	if !*yes {
		return usageErr("stop every runner, then run again with --yes")
	}
	r, err := cfg.Open(ctx, false)
	if err != nil {
		return err
	}
	defer r.Close()
	res, err := r.Ops().Restamp(ctx)
	if err != nil {
		return c.notMigrated(err, cfg.Schema())
	}
	fmt.Fprintf(c.stdout, "re-stamped %d events and %d stored positions\n", res.Events, res.Positions)
	return nil
}

func (c *cli) cmdVersion(ctx context.Context, args []string) error {
	fs := c.flags("version", "", "Print the version.", nil)
	if _, err := c.parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "%s (causeway %s, %s)\n", c.prog, Version(), goruntime.Version())
	return nil
}

// Version is Causeway's module version, or "devel" in a development build.
func Version() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Path == "github.com/causewayhq/causeway" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			return bi.Main.Version
		}
		for _, d := range bi.Deps {
			if d.Path == "github.com/causewayhq/causeway" {
				return d.Version
			}
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "devel-" + s.Value[:12]
			}
		}
	}
	return "devel"
}
