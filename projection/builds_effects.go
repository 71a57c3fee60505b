package projection

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/worker"
)

// The builds' use of projection effects (events and queue messages a
// handler emits; effects.go):
//
//   - buildHandler is the handler of a build's subscription: p's handler
//     with the effects context, held back (buffered) while buildBuffered(ctx)
//     says the transaction's build is still building, live otherwise. The
//     mode is decided in the transaction, by the build's BeforeTx hook
//     (builds_pg.go), so it needs no query of its own.
//   - releaseEffects runs at the switch, in its transaction, after the new
//     build's partitions are locked and fenced (no batch can hold back an
//     effect after it): the held-back effects of events after the old
//     build's slowest checkpoint are carried out (effects are idempotent, so
//     one the old build also produced is harmless), and those of the old
//     build's dead letters wherever they lie (it moved past them without
//     their effects), and the rest deleted.
//   - pruneEffects deletes a building build's held-back effects up to the
//     live build's slowest checkpoint, but for its dead letters: the live
//     build produced the others. A dead letter is written in the
//     transaction that moves the checkpoint past its event, so one behind
//     the checkpoint read is there for the prune to see.
//   - dropEffects deletes a dropped build's held-back effects.

func buildHandler(b *Builds, p *Projection, owner string) worker.Handler {
	return p.handlerWith(&effectsConfig{env: &b.cfg.Effects, owner: owner,
		mode: func(ctx context.Context, _ pgx.Tx) (effectsMode, error) {
			if buildBuffered(ctx) {
				return effectsBuffered, nil
			}
			return effectsLive, nil
		}})
}

func releaseEffects(ctx context.Context, tx pgx.Tx, b *Builds, owner string, after eventlog.Position, old string) (int, error) {
	return releaseHeld(ctx, tx, b.cfg.Effects, owner, after, b.deadLetters(old))
}

func pruneEffects(ctx context.Context, tx pgx.Tx, b *Builds, owner string, upTo eventlog.Position, live string) (int64, error) {
	return pruneHeld(ctx, tx, b.cfg.Effects.Schema, owner, upTo, b.deadLetters(live))
}

// deadLetters names the dead letters of a build's subscription.
func (b *Builds) deadLetters(sub string) deadLetters {
	return deadLetters{table: pgx.Identifier{b.cfg.Schema, "dead_letters"}.Sanitize(), sub: sub}
}

func dropEffects(ctx context.Context, tx pgx.Tx, b *Builds, owner string) error {
	return DropEffects(ctx, tx, b.cfg.Schema, owner)
}
