package runtime

import (
	"fmt"
	"os"

	"github.com/causewayhq/causeway/projection"
	"github.com/causewayhq/causeway/worker"
)

// newBuilds is the manager of the app's versioned projections' builds: Run
// runs its loop in every runner; Ops uses it for the rebuild commands.
func (r *Runtime) newBuilds() (*projection.Builds, error) {
	by := r.cfg.MemberID
	if by == "" {
		host, _ := os.Hostname()
		by = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	return projection.NewBuilds(projection.BuildsConfig{
		Pool: r.pool, Schema: r.cfg.Schema, Log: r.reader, Checkpoints: r.Checkpoints,
		Projections: r.app.Projections, By: by,
		Effects: projection.EffectsEnv{Appender: r.Log, Queues: r.queues, Schema: r.Log.Schema()}, SwapMaxLag: r.cfg.RebuildMaxLag, Grace: r.cfg.RebuildGrace,
		Worker: worker.Config{Leases: r.leases, MemberID: r.cfg.MemberID, LeaseTTL: r.cfg.LeaseTTL, Logger: r.logger,
			Hooks: r.tel.WorkerHooks(), Middleware: r.tel.WrapHandler},
		Logger: r.logger,
	})
}
