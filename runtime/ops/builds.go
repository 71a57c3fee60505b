package ops

import (
	"context"
	"fmt"

	"github.com/causewayhq/causeway/projection"
)

// errNoBuilds: the program registers no versioned projection.
func (o *Ops) buildsOf(name string) (*projection.Builds, error) {
	if o.cfg.Builds == nil {
		return nil, fmt.Errorf("%w: %q (no versioned projection in this program)", ErrUnknownProjection, name)
	}
	return o.cfg.Builds, nil
}

// Rebuild starts a blue/green rebuild of a versioned projection registered
// in this program: the runners build it beside the live one and switch
// readers to it when it has caught up (see projection.Builds.Start).
func (o *Ops) Rebuild(ctx context.Context, name, by string) (projection.Build, error) {
	b, err := o.buildsOf(name)
	if err != nil {
		return projection.Build{}, err
	}
	return b.Start(ctx, name, by)
}

// AbortRebuild drops the projection's building build; the live one is
// untouched.
func (o *Ops) AbortRebuild(ctx context.Context, name, by string) (projection.Build, error) {
	b, err := o.buildsOf(name)
	if err != nil {
		return projection.Build{}, err
	}
	return b.Abort(ctx, name, by)
}

// DropBuild drops retired build n of a projection now (0: every retired
// build of it).
func (o *Ops) DropBuild(ctx context.Context, name string, n int, by string) ([]projection.Build, error) {
	b, err := o.buildsOf(name)
	if err != nil {
		return nil, err
	}
	return b.Drop(ctx, name, n, by)
}

// Builds lists the builds of a projection ("" = of all), with progress.
func (o *Ops) Builds(ctx context.Context, name string) ([]projection.Build, error) {
	if o.cfg.Builds == nil {
		return nil, nil
	}
	return o.cfg.Builds.List(ctx, name)
}

// BuildView is one build of a versioned projection with its progress
// (GET /api/projections/{name}/builds, rebuild status --json, status).
type BuildView struct {
	Projection   string  `json:"projection"`
	Build        int     `json:"build"`
	Version      int     `json:"version"`
	Subscription string  `json:"subscription"`
	Schema       string  `json:"schema"`
	LiveSchema   string  `json:"live_schema"`
	State        string  `json:"state"`
	RequestedBy  string  `json:"requested_by"`
	RequestedAt  string  `json:"requested_at"`
	LiveAt       string  `json:"live_at,omitempty"`
	RetiredAt    string  `json:"retired_at,omitempty"`
	DropAfter    string  `json:"drop_after,omitempty"`
	DroppedAt    string  `json:"dropped_at,omitempty"`
	Target       string  `json:"target"`
	TotalEvents  int64   `json:"total_events"`
	DoneEvents   int64   `json:"done_events"`
	Rate         float64 `json:"events_per_second"`
	ETASeconds   float64 `json:"eta_seconds"`
	SampledAt    string  `json:"sampled_at,omitempty"`
}

// BuildListView is a list of builds.
type BuildListView struct {
	Builds []BuildView `json:"builds"`
}

// NewBuildView renders b.
func NewBuildView(b projection.Build) BuildView {
	return BuildView{Projection: b.Projection, Build: b.Build, Version: b.Version, Subscription: b.Subscription,
		Schema: b.Schema, LiveSchema: b.LiveSchema, State: string(b.State), RequestedBy: b.RequestedBy,
		RequestedAt: timestamp(b.RequestedAt), LiveAt: timestamp(b.LiveAt), RetiredAt: timestamp(b.RetiredAt),
		DropAfter: timestamp(b.DropAfter), DroppedAt: timestamp(b.DroppedAt), Target: b.Target.String(),
		TotalEvents: b.Total, DoneEvents: b.Done, Rate: b.Rate, ETASeconds: b.ETA().Seconds(), SampledAt: timestamp(b.SampledAt)}
}

// NewBuildListView renders builds.
func NewBuildListView(bs []projection.Build) BuildListView {
	v := BuildListView{Builds: make([]BuildView, 0, len(bs))}
	for _, b := range bs {
		v.Builds = append(v.Builds, NewBuildView(b))
	}
	return v
}
