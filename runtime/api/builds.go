package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/causewayhq/causeway/runtime/ops"
)

// projectionReq reads what the build endpoints take: the projection's
// name from the path, no query parameters, and (for a change) the actor.
func projectionReq(req *http.Request, change bool) (name, by string, err error) {
	if name, err = subscriptionName("projection", req.PathValue("name")); err != nil {
		return "", "", err
	}
	if _, err = query(req); err != nil {
		return "", "", err
	}
	if change {
		by, err = actor(req)
	}
	return name, by, err
}

// builds: GET /api/projections/{name}/builds
func (a *api) builds(ctx context.Context, req *http.Request) (int, any, error) {
	name, _, err := projectionReq(req, false)
	if err != nil {
		return 0, nil, err
	}
	bs, err := a.ops.Builds(ctx, name)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, ops.NewBuildListView(bs), nil
}

// rebuild: POST /api/projections/{name}/rebuild
func (a *api) rebuild(ctx context.Context, req *http.Request) (int, any, error) {
	name, by, err := projectionReq(req, true)
	if err != nil {
		return 0, nil, err
	}
	b, err := a.ops.Rebuild(ctx, name, by)
	if err != nil {
		return 0, nil, err
	}
	a.logger.Info("causeway: rebuild started through the API", "projection", name, "build", b.Build, "by", by)
	return http.StatusAccepted, ops.NewBuildView(b), nil
}

// abortRebuild: POST /api/projections/{name}/rebuild/abort
func (a *api) abortRebuild(ctx context.Context, req *http.Request) (int, any, error) {
	name, by, err := projectionReq(req, true)
	if err != nil {
		return 0, nil, err
	}
	b, err := a.ops.AbortRebuild(ctx, name, by)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, ops.NewBuildView(b), nil
}

// dropBuild: POST /api/projections/{name}/builds/{n}/drop
func (a *api) dropBuild(ctx context.Context, req *http.Request) (int, any, error) {
	n, err := strconv.Atoi(req.PathValue("n"))
	if err != nil || n < 1 {
		return 0, nil, badRequest("build %q: want a build number, 1 or more", req.PathValue("n"))
	}
	name, by, err := projectionReq(req, true)
	if err != nil {
		return 0, nil, err
	}
	bs, err := a.ops.DropBuild(ctx, name, n, by)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, ops.NewBuildListView(bs), nil
}
