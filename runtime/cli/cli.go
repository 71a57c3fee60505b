// Package cli is Causeway's command line: run, migrate, status, replay,
// dlq, sagas, queues, restamp and version, plus a program's own commands. It is
// driven by runtime.Main, which gives it the program (Program) and a way
// to open it (Settings); the commands act through package ops and print
// its JSON shapes with --json.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/causewayhq/causeway/internal/cliflags"
	"github.com/causewayhq/causeway/runtime/ops"
)

// Program is what the command line runs: its name, the projections it
// registers (for replay's messages), its own commands, and its settings.
type Program struct {
	// Name is the program's name in usage and messages (default causeway).
	Name string
	// Projections names the registered projections.
	Projections []string
	// Commands are extra subcommands.
	Commands []Command
	// Settings reads the configuration from the environment; an error is
	// what it could not parse, reported once a command's flags are parsed
	// (so --help works with a broken environment).
	Settings func() (Settings, error)
}

// Settings is one command's configuration: the environment's, overridden
// by the command's flags, and how to open the program with it.
type Settings interface {
	// BindFlags binds the connection flags every command has.
	BindFlags(fs *flag.FlagSet)
	// BindRunFlags binds the flags of run.
	BindRunFlags(fs *flag.FlagSet)
	// Schema is the schema of Causeway's tables.
	Schema() string
	// RedactedURL is the database URL for messages, without its password.
	RedactedURL() string
	// CommandTimeout bounds a command's database work.
	CommandTimeout() time.Duration
	// Open connects; run: for `run` (also exports telemetry as the OTEL_*
	// variables say).
	Open(ctx context.Context, run bool) (Runtime, error)
}

// Runtime is an opened program, as the commands use it.
type Runtime interface {
	Migrate(ctx context.Context) ([]int, error)
	Run(ctx context.Context) error
	Ops() *ops.Ops
	Close()
}

// Command is an extra subcommand.
type Command struct {
	Name    string
	Summary string
	// Run gets the arguments after the command name.
	Run func(ctx context.Context, args []string) error
}

// ErrUsage marks a command-line mistake: the message is printed with the
// command's usage and the exit code is 2.
var ErrUsage = errors.New("usage")

// ParseFlags parses a command's flags, which may come before, between or
// after its positional arguments, and returns the positional ones. --help
// returns flag.ErrHelp (exit 0); any other mistake is an ErrUsage (exit
// 2). fs should use flag.ContinueOnError.
func ParseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	pos, err := cliflags.Parse(fs, args)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		return nil, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	return pos, err
}

// cli is one invocation.
type cli struct {
	p       Program
	prog    string
	stdout  io.Writer
	stderr  io.Writer
	usageOf map[*flag.FlagSet]func() // --help text of each command's flags
	envErr  error                    // what ConfigFromEnv could not parse
}

type command struct {
	name    string
	summary string
	run     func(c *cli, ctx context.Context, args []string) error
}

func (c *cli) commands() []command {
	cmds := []command{
		{"run", "run the app's projections, sagas, subscriptions and queue consumers until SIGINT/SIGTERM", (*cli).cmdRun},
		{"migrate", "apply Causeway's migrations, declare the app's queues and run the projections' set-up", (*cli).cmdMigrate},
		{"status", "show subscriptions (partitions, owners, lag, state, dead letters) and the log horizon", (*cli).cmdStatus},
		{"replay", "rebuild a projection from the log, with progress: replay NAME", (*cli).cmdReplay},
		{"rebuild", "blue/green rebuilds of versioned projections: rebuild start|status|follow|abort|drop", (*cli).cmdRebuild},
		{"dlq", "dead letters: dlq list|show|retry|discard|discarded (retry and discard also in bulk by filter)", (*cli).cmdDLQ},
		{"move", "move a subscription to the start, the end, a position or a time: move SUBSCRIPTION --to-…", (*cli).cmdMove},
		{"moves", "list the recorded moves of subscriptions: moves [SUBSCRIPTION]", (*cli).cmdMoves},
		{"sagas", "saga instances: sagas list|show|retry|resume|cancel", (*cli).cmdSagas},
		{"queues", "queues and their dead letters: queues list|dead|show|requeue|discard", (*cli).cmdQueues},
		{"restamp", "re-stamp stored transaction ids after a pg_dump restore or a move to another cluster", (*cli).cmdRestamp},
		{"version", "print the version", (*cli).cmdVersion},
	}
	for _, extra := range c.p.Commands {
		run := extra.Run
		cmds = append(cmds, command{extra.Name, extra.Summary, func(_ *cli, ctx context.Context, args []string) error {
			return run(ctx, args)
		}})
	}
	return cmds
}

// Execute runs one command line and returns the exit code: errors print
// as one line on stderr with a non-zero exit code (2 for usage mistakes,
// 130 when ctx was cancelled).
func Execute(ctx context.Context, p Program, args []string, stdout, stderr io.Writer) int {
	prog := p.Name
	if prog == "" {
		prog = "causeway"
	}
	c := &cli{p: p, prog: prog, stdout: stdout, stderr: stderr, usageOf: map[*flag.FlagSet]func(){}}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		c.usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	i := slices.IndexFunc(c.commands(), func(cmd command) bool { return cmd.name == args[0] })
	if i < 0 {
		fmt.Fprintf(stderr, "%s: unknown command %q (run '%s help' for the list)\n", prog, args[0], prog)
		return 2
	}
	err := c.commands()[i].run(c, ctx, args[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, ErrUsage):
		fmt.Fprintf(stderr, "%s %s: %v\n", prog, args[0], strings.TrimPrefix(err.Error(), "usage: "))
		return 2
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return 130
	default:
		fmt.Fprintf(stderr, "%s %s: %s\n", prog, args[0], oneLine(err))
		return 1
	}
}

func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }

func (c *cli) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s <command> [flags] [arguments]\n\nCommands:\n", c.prog)
	for _, cmd := range c.commands() {
		fmt.Fprintf(w, "  %-9s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprintf(w, "\nRun '%s <command> --help' for a command's flags. Configuration comes from flags and the environment\n", c.prog)
	fmt.Fprintln(w, "(DATABASE_URL, CAUSEWAY_SCHEMA, CAUSEWAY_HTTP_ADDR, CAUSEWAY_API_TOKEN, ...).")
}

// flags returns a flag set for a command, with the shared connection flags
// bound to cfg, printing its usage on --help.
func (c *cli) flags(name, argsUsage, summary string, cfg Settings) *flag.FlagSet {
	fs := flag.NewFlagSet(c.prog+" "+name, flag.ContinueOnError)
	// The flag package would print parse errors and the usage itself; we
	// print one line for errors, and the usage only for --help.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if cfg != nil {
		cfg.BindFlags(fs)
	}
	c.usageOf[fs] = func() {
		fmt.Fprintf(c.stdout, "Usage: %s %s [flags] %s\n\n%s\n\nFlags:\n", c.prog, name, argsUsage, summary)
		fs.SetOutput(c.stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parse parses flags (before, between or after positional arguments, as
// ParseFlags); errors other than --help are usage errors.
func (c *cli) parse(fs *flag.FlagSet, args []string) ([]string, error) {
	pos, err := ParseFlags(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		c.usageOf[fs]()
	}
	if err == nil && c.envErr != nil {
		return nil, c.envErr
	}
	return pos, err
}

// env reads the configuration from the environment. A value it cannot
// parse fails the command once its flags are parsed, so that --help still
// works with a broken environment.
func (c *cli) env() Settings {
	if c.p.Settings == nil {
		// Every command then fails once its flags are parsed, never on nil.
		c.envErr = errors.New("cli: the program has no Settings")
		return nil
	}
	cfg, err := c.p.Settings()
	c.envErr = err
	return cfg
}

// SQLSTATEs of a database that was not migrated.
const (
	sqlstateUndefinedTable    = "42P01"
	sqlstateInvalidSchemaName = "3F000"
)

// notMigrated explains an error of a schema without Causeway's tables (or
// with an older set of them): SQLSTATE 42P01 naming one of them, or 3F000
// (no such schema).
func (c *cli) notMigrated(err error, schema string) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	if pe.Code == sqlstateInvalidSchemaName || pe.Code == sqlstateUndefinedTable && strings.Contains(pe.Message, `"`+schema+`.`) {
		return fmt.Errorf("schema %s lacks Causeway's tables: run `%s migrate` first (or choose the schema with --schema or CAUSEWAY_SCHEMA): %w",
			schema, c.prog, err)
	}
	return err
}

// parseNone parses flags and refuses positional arguments.
func (c *cli) parseNone(fs *flag.FlagSet, args []string) error {
	rest, err := c.parse(fs, args)
	if err == nil && len(rest) > 0 {
		err = usageErr("unexpected arguments %q", rest)
	}
	return err
}

func usageErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUsage, fmt.Sprintf(format, args...))
}
