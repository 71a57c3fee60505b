package projection

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/worker"
)

// The builds' hooks into projection effects (events and queue messages a
// handler emits; effects.go). They are variables so that the effects code
// plugs in here without the builds depending on its shape:
//
//   - buildHandler is the handler of a build's subscription: the effects
//     code wraps p's handler with its effects context, in held-back
//     (buffered) mode when buildBuffered(ctx) says the transaction's build
//     is still building, live otherwise. The mode is decided in the
//     transaction, by the build's BeforeTx hook (builds_pg.go).
//   - releaseEffects runs at the switch, in its transaction: the new build's
//     held-back effects of events after the old build's slowest checkpoint
//     are executed (effects are idempotent, so one the old build also
//     produced is harmless), and its pending ones deleted.
//   - pruneEffects deletes a building build's held-back effects up to the
//     live build's slowest checkpoint: the live build produced those.
//   - dropEffects deletes a dropped build's held-back effects.
//
// Until effects are wired, a build's handler is the projection's own and
// these do nothing.
var (
	buildHandler = func(b *Builds, p *Projection, owner string) worker.Handler { return p.handle }

	releaseEffects = func(ctx context.Context, tx pgx.Tx, b *Builds, owner string, after eventlog.Position) (int, error) {
		return 0, nil
	}
	pruneEffects = func(ctx context.Context, tx pgx.Tx, b *Builds, owner string, upTo eventlog.Position) (int64, error) {
		return 0, nil
	}
	dropEffects = func(ctx context.Context, tx pgx.Tx, b *Builds, owner string) error { return nil }
)
