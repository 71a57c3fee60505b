package runtime

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/projection"
	"github.com/causewayhq/causeway/runtime/cli"
	"github.com/causewayhq/causeway/saga"
	"github.com/causewayhq/causeway/worker"
	"github.com/causewayhq/causeway/worker/queue"
)

// App is what a program registers: plain values, no global registry.
type App struct {
	// Name shows in logs and `version`.
	Name          string
	Projections   []*projection.Projection
	Sagas         []saga.Saga
	Subscriptions []worker.Subscription
	// Upcasters turn stored old event types and shapes into current ones
	// at read time, for every consumer: subscriptions, projections, saga
	// starts and waits, dead-letter retries, replays and Runtime.Reader.
	Upcasters []eventlog.Upcaster
	// Queues are declared (created, or their configuration updated) at
	// start and by `migrate`, after Causeway's migrations. Runtime.Queues
	// enqueues to them; the elected leader purges acked messages past
	// their retention and expired deduplication keys every minute.
	Queues []queue.Declaration
	// Consumers handle queue messages in `run`: every process runs every
	// consumer, and they share each queue's messages (no message has two
	// live holders). A consumer's queue must be in Queues or already in
	// the database.
	Consumers []queue.Consumer
	// Jobs are cron jobs fired once per cluster by the elected leader.
	Jobs []Job
	// Retention policies, applied by the leader on their schedules.
	Retention []RetentionPolicy
	// Commands are extra subcommands (the stock runner adds demo and bench).
	Commands []Command
	// Setup runs with `migrate` and at start, after Causeway's migrations
	// and before the projections' set-up, for the app's own schemas and
	// tables; it must be idempotent.
	Setup func(ctx context.Context, tx pgx.Tx) error
	// OnOpen is called once the runtime is connected, before any command
	// runs: the place to hand the pool to the app's own services.
	OnOpen func(r *Runtime) error
}

// Job is a user cron job.
type Job struct {
	Name string
	// Schedule is a cron expression (5 fields, or 6 with seconds first; or
	// descriptors like "@every 1m", "@hourly").
	Schedule string
	Run      func(ctx context.Context) error
}

// RetentionPolicy deletes old events of one category. Events a subscription
// has not processed yet (or dead letters and sagas still refer to) are kept
// unless Force is set.
type RetentionPolicy struct {
	Category string
	MaxAge   time.Duration // delete events older than this (0 = no age limit)
	MaxCount int64         // keep at most this many newest events (0 = no count limit)
	Force    bool
	Schedule string // default "@every 1h"
}

// Command is an extra subcommand (package cli's, here so that an App is
// written with this package alone).
type Command = cli.Command

// ErrUsage marks a command-line mistake: the message is printed with the
// command's usage and the exit code is 2. It is cli.ErrUsage.
var ErrUsage = cli.ErrUsage

// ParseFlags parses an app command's flags, which may come before, between
// or after its positional arguments, and returns the positional ones
// (cli.ParseFlags).
func ParseFlags(fs *flag.FlagSet, args []string) ([]string, error) { return cli.ParseFlags(fs, args) }

func (a App) validate() error {
	var errs []error
	names := map[string]string{}
	claim := func(name, what string) {
		if prev, dup := names[name]; dup {
			errs = append(errs, fmt.Errorf("%s %q has the same subscription name as %s", what, name, prev))
		}
		names[name] = what
	}
	for _, p := range a.Projections {
		if err := p.Err(); err != nil {
			errs = append(errs, err)
		}
		claim(p.Name(), "projection")
	}
	for _, s := range a.Sagas {
		if err := s.Err(); err != nil {
			errs = append(errs, err)
		}
		claim(saga.SubscriptionName(s.Name()), "saga")
	}
	for _, s := range a.Subscriptions {
		claim(s.Name(), "subscription")
	}
	queues := map[string]bool{}
	for _, q := range a.Queues {
		if err := q.Err(); err != nil {
			errs = append(errs, fmt.Errorf("queue %q: %w", q.Name(), err))
		} else if queues[q.Name()] {
			errs = append(errs, fmt.Errorf("queue %q is declared twice", q.Name()))
		}
		queues[q.Name()] = true
	}
	for _, c := range a.Consumers {
		if err := c.Err(); err != nil {
			errs = append(errs, fmt.Errorf("consumer of queue %q: %w", c.Queue(), err))
		}
	}
	jobs := map[string]bool{}
	for _, j := range a.Jobs {
		if j.Name == "" || j.Run == nil || jobs[j.Name] {
			errs = append(errs, fmt.Errorf("job %q: needs a unique name and a Run function", j.Name))
		}
		jobs[j.Name] = true
	}
	for _, r := range a.Retention {
		if r.Category == "" || r.MaxAge <= 0 && r.MaxCount <= 0 {
			errs = append(errs, fmt.Errorf("retention policy for %q: needs a category and MaxAge or MaxCount", r.Category))
		}
	}
	return errors.Join(errs...)
}
