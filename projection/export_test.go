package projection

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/worker"
)

// Test hooks for the builds' side of effects (effectsConfig).
const (
	EffectsLive     = effectsLive
	EffectsBuffered = effectsBuffered
)

type EffectsMode = effectsMode

// HandlerWithEffects is handlerWith for an owner and a mode function.
func HandlerWithEffects(p *Projection, env *EffectsEnv, owner string, mode func(ctx context.Context, tx pgx.Tx) (EffectsMode, error)) worker.Handler {
	return p.handlerWith(&effectsConfig{env: env, owner: owner, mode: mode})
}

// SetBeforeSwitchCommit sets a hook run inside a switch's transaction, once
// everything is written, before its commit.
func SetBeforeSwitchCommit(b *Builds, f func(ctx context.Context)) { b.beforeSwitchCommit = f }
