package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/causewayhq/causeway/internal/progress"
	"github.com/causewayhq/causeway/projection"
	"github.com/causewayhq/causeway/runtime/ops"
)

// cmdRebuild: blue/green rebuilds of versioned projections.
func (c *cli) cmdRebuild(ctx context.Context, args []string) error {
	sub, rest := "", args
	if len(args) > 0 {
		sub, rest = args[0], args[1:]
	}
	cfg := c.env()
	// oneName parses the sub-command's flags and its one argument.
	oneName := func(fs *flag.FlagSet) (string, error) {
		pos, err := c.parse(fs, rest)
		if err != nil {
			return "", err
		}
		if len(pos) != 1 {
			return "", usageErr("want exactly one projection name (registered: %v)", c.projectionNames())
		}
		return pos[0], nil
	}
	switch sub {
	case "start":
		fs := c.flags("rebuild start", "NAME", "Start a blue/green rebuild of a versioned projection: the runners build it\nbeside the live version and switch readers to it once it has caught up.", cfg)
		follow := fs.Bool("follow", false, "show progress until the new build is live")
		by := fs.String("by", ops.LocalActor(), "who asks (recorded)")
		asJSON := fs.Bool("json", false, "print JSON")
		name, err := oneName(fs)
		if err != nil {
			return err
		}
		var b projection.Build
		if err := c.withOps(ctx, cfg, func(ctx context.Context, o *ops.Ops) error {
			b, err = o.Rebuild(ctx, name, *by)
			return err
		}); err != nil {
			return err
		}
		if *asJSON {
			if err := c.printJSON(ops.NewBuildView(b)); err != nil {
				return err
			}
		} else {
			fmt.Fprintf(c.stdout, "projection %s: build %d (version %d) started, %s: %d events to go through into schema %s\n",
				name, b.Build, b.Version, b.State, b.Total, b.Schema)
		}
		if *follow {
			return c.followBuild(ctx, cfg, name, b.Build)
		}
		return nil
	case "status":
		fs := c.flags("rebuild status", "[NAME]", "List the builds of versioned projections with their progress.", cfg)
		asJSON := fs.Bool("json", false, "print JSON")
		pos, err := c.parse(fs, rest)
		if err != nil {
			return err
		}
		if len(pos) > 1 {
			return usageErr("want at most one projection name")
		}
		name := ""
		if len(pos) == 1 {
			name = pos[0]
		}
		return c.withOps(ctx, cfg, func(ctx context.Context, o *ops.Ops) error {
			bs, err := o.Builds(ctx, name)
			if err != nil {
				return err
			}
			if *asJSON {
				return c.printJSON(ops.NewBuildListView(bs))
			}
			return printBuilds(c, bs)
		})
	case "follow":
		fs := c.flags("rebuild follow", "NAME", "Show the progress of a projection's build in progress until it is live.", cfg)
		name, err := oneName(fs)
		if err != nil {
			return err
		}
		return c.followBuild(ctx, cfg, name, 0)
	case "abort":
		fs := c.flags("rebuild abort", "NAME", "Abandon a projection's build in progress: it is dropped; the live version is untouched.", cfg)
		by := fs.String("by", ops.LocalActor(), "who asks (recorded in the log)")
		name, err := oneName(fs)
		if err != nil {
			return err
		}
		return c.withOps(ctx, cfg, func(ctx context.Context, o *ops.Ops) error {
			b, err := o.AbortRebuild(ctx, name, *by)
			if err == nil {
				fmt.Fprintf(c.stdout, "projection %s: build %d aborted and dropped\n", name, b.Build)
			}
			return err
		})
	case "drop":
		fs := c.flags("rebuild drop", "NAME", "Drop a projection's retired builds now rather than after the grace period.", cfg)
		n := fs.Int("build", 0, "only this build (default: every retired one)")
		by := fs.String("by", ops.LocalActor(), "who asks (recorded in the log)")
		name, err := oneName(fs)
		if err != nil {
			return err
		}
		return c.withOps(ctx, cfg, func(ctx context.Context, o *ops.Ops) error {
			bs, err := o.DropBuild(ctx, name, *n, *by)
			if err != nil {
				return err
			}
			if len(bs) == 0 {
				fmt.Fprintf(c.stdout, "projection %s: no retired build to drop\n", name)
			}
			for _, b := range bs {
				fmt.Fprintf(c.stdout, "projection %s: build %d dropped (schema %s)\n", name, b.Build, b.Schema)
			}
			return nil
		})
	}
	return usageErr("want a sub-command: start, status, follow, abort or drop")
}

func printBuilds(c *cli, bs []projection.Build) error {
	return printRows(c, bs, "PROJECTION\tBUILD\tVERSION\tSTATE\tDONE\tTOTAL\tEVENTS/S\tETA\tSCHEMA\tREQUESTED BY",
		func(b projection.Build) []any {
			eta := "-"
			if d := b.ETA(); d > 0 {
				eta = d.Round(time.Second).String()
			}
			return []any{b.Projection, b.Build, b.Version, b.State, b.Done, b.Total, fmt.Sprintf("%.0f", b.Rate), eta, b.Schema, b.RequestedBy}
		})
}

// followBuild shows build n's progress (0: the one in progress) until it
// is live; an aborted or dropped build ends it with an error.
func (c *cli) followBuild(ctx context.Context, cfg Settings, name string, n int) error {
	r, err := cfg.Open(ctx, false)
	if err != nil {
		return err
	}
	defer r.Close()
	o := r.Ops()
	var bar *progress.Reporter
	for {
		bs, err := o.Builds(ctx, name)
		if err != nil {
			return c.notMigrated(err, cfg.Schema())
		}
		var cur *projection.Build
		for i := range bs {
			if n != 0 && bs[i].Build == n || n == 0 && bs[i].State == projection.BuildBuilding {
				cur = &bs[i]
			}
		}
		if cur == nil {
			return fmt.Errorf("projection %s: %w", name, projection.ErrNoBuild)
		}
		n = cur.Build
		if bar == nil {
			bar = progress.New(c.stderr, fmt.Sprintf("rebuild %s build %d", name, n), cur.Total)
		}
		switch cur.State {
		case projection.BuildLive:
			bar.Done(cur.Total)
			fmt.Fprintf(c.stdout, "projection %s: build %d is live\n", name, n)
			return nil
		case projection.BuildBuilding:
			bar.Update(cur.Done)
		default:
			return fmt.Errorf("projection %s: build %d is %s: %w", name, n, cur.State, errors.New("it will not go live"))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
