package projection

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Start starts a rebuild of a versioned projection registered in this
// program: a new build of the code's version (the same version as the live
// one is allowed: a rebuild after a handler fix), built beside the live one
// by the runners and switched to when caught up. With no build yet it
// makes the first one, live at once. ErrBuildInProgress when one is
// building already.
func (b *Builds) Start(ctx context.Context, name, by string) (Build, error) {
	p, err := b.projection(name)
	if err != nil {
		return Build{}, err
	}
	var out Build
	_, err = b.locked(ctx, name, false, func(tx pgx.Tx, builds []Build) error {
		if cur, ok := find(builds, BuildBuilding); ok {
			return fmt.Errorf("projection %s: build %d (version %d): %w", name, cur.Build, cur.Version, ErrBuildInProgress)
		}
		state := BuildBuilding
		if _, ok := find(builds, BuildLive); !ok {
			state = BuildLive
		}
		out, err = b.create(ctx, tx, p, nextBuild(builds), state, by)
		return err
	})
	if err != nil {
		return Build{}, err
	}
	b.Wake()
	return out, nil
}

// Abort abandons the projection's building build: it is dropped (schema,
// checkpoints, held-back effects); the live build is untouched.
func (b *Builds) Abort(ctx context.Context, name, by string) (Build, error) {
	var out Build
	_, err := b.locked(ctx, name, false, func(tx pgx.Tx, builds []Build) error {
		cur, ok := find(builds, BuildBuilding)
		if !ok {
			return fmt.Errorf("projection %s: no build in progress: %w", name, ErrNoBuild)
		}
		b.cfg.Logger.Info("causeway: projection build aborted", "projection", name, "build", cur.Build, "by", by)
		out = cur
		out.State = BuildAborted
		return b.drop(ctx, tx, cur, BuildAborted)
	})
	if err != nil {
		return Build{}, err
	}
	b.Wake()
	return out, nil
}

// Drop drops retired builds now rather than after the grace period: build
// n, or every retired build of the projection when n is 0. A live or
// building build cannot be dropped (ErrBuildState; abort a building one).
func (b *Builds) Drop(ctx context.Context, name string, n int, by string) ([]Build, error) {
	var out []Build
	_, err := b.locked(ctx, name, false, func(tx pgx.Tx, builds []Build) error {
		found := false
		for _, bl := range builds {
			if n != 0 && bl.Build != n {
				continue
			}
			found = true
			if bl.State != BuildRetired {
				if n == 0 {
					continue
				}
				return fmt.Errorf("projection %s: build %d is %s: %w (only a retired build is dropped; abort a building one)",
					name, n, bl.State, ErrBuildState)
			}
			b.cfg.Logger.Info("causeway: projection build dropped on request", "projection", name, "build", bl.Build, "by", by)
			if err := b.drop(ctx, tx, bl, BuildDropped); err != nil {
				return err
			}
			bl.State = BuildDropped
			out = append(out, bl)
		}
		if !found {
			return fmt.Errorf("projection %s: build %d: %w", name, n, ErrNoBuild)
		}
		return nil
	})
	return out, err
}
