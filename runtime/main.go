package runtime

import (
	"context"
	"flag"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/causewayhq/causeway/runtime/cli"
)

// Main runs the command line for app and exits: `run`, `migrate`,
// `status`, `replay`, `dlq`, `sagas`, `queues`, `restamp`, `version`, and
// the app's own commands (package cli). Errors print as one line on stderr with a
// non-zero exit code (2 for usage mistakes).
func Main(app App) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := Execute(ctx, app, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Execute runs one command line for app and returns the exit code.
func Execute(ctx context.Context, app App, args []string, stdout, stderr io.Writer) int {
	return cli.Execute(ctx, app.program(), args, stdout, stderr)
}

// Version is Causeway's module version, or "devel" in a development build.
func Version() string { return cli.Version() }

// program is app as the command line sees it.
func (a App) program() cli.Program {
	p := cli.Program{Name: a.Name, Commands: a.Commands, Settings: func() (cli.Settings, error) {
		cfg, err := ConfigFromEnv()
		return &settings{app: a, cfg: cfg}, err
	}}
	for _, pr := range a.Projections {
		p.Projections = append(p.Projections, pr.Name())
	}
	return p
}

// settings gives the command line a Config to bind its flags to and to
// open the app with.
type settings struct {
	app App
	cfg Config
}

func (s *settings) BindFlags(fs *flag.FlagSet)    { s.cfg.bindFlags(fs) }
func (s *settings) BindRunFlags(fs *flag.FlagSet) { s.cfg.bindRunFlags(fs) }
func (s *settings) Schema() string                { return s.cfg.Schema }
func (s *settings) RedactedURL() string           { return redactDSN(s.cfg.DatabaseURL) }
func (s *settings) CommandTimeout() time.Duration { return s.cfg.commandTimeout() }

func (s *settings) Open(ctx context.Context, run bool) (cli.Runtime, error) {
	cfg := s.cfg
	cfg.TelemetryFromEnv = run
	r, err := Open(ctx, s.app, cfg)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return r, nil
}
