package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/causewayhq/causeway/runtime/ops"
)

// moveRequest is the body of POST /api/subscriptions/{name}/move.
type moveRequest struct {
	To       string `json:"to"`
	Position string `json:"position"`
	Time     string `json:"time"`
}

func (a *api) move(ctx context.Context, req *http.Request, body []byte) (int, any, error) {
	name, err := subscriptionName("subscription", req.PathValue("name"))
	if err != nil {
		return 0, nil, err
	}
	if _, err := query(req); err != nil {
		return 0, nil, err
	}
	by, err := actor(req)
	if err != nil {
		return 0, nil, err
	}
	var mr moveRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&mr); err != nil {
		return 0, nil, badRequest(`body: want {"to": "start|end|position|time", "position": "txid/seq", "time": "RFC 3339"}: %v`, err)
	}
	if dec.More() {
		return 0, nil, badRequest("body: want one JSON object")
	}
	if err := checkText("body", mr.To+mr.Position+mr.Time); err != nil {
		return 0, nil, err
	}
	target, err := ops.ParseMoveTarget(mr.To, mr.Position, mr.Time)
	if err != nil {
		return 0, nil, badRequest("%v", err)
	}
	rec, err := a.ops.Move(ctx, name, target, by)
	if errors.Is(err, ops.ErrInvalidMove) {
		return 0, nil, badRequest("%v", err)
	}
	if err != nil {
		return 0, nil, err
	}
	a.logger.Info("causeway: subscription moved through the API", "subscription", name, "to", rec.To.String(), "by", by)
	return http.StatusOK, ops.NewMoveView(rec), nil
}

func (a *api) moves(ctx context.Context, req *http.Request) (int, any, error) {
	name, err := subscriptionName("subscription", req.PathValue("name"))
	if err != nil {
		return 0, nil, err
	}
	q, err := query(req, "limit")
	if err != nil {
		return 0, nil, err
	}
	limit, err := limitParam(q)
	if err != nil {
		return 0, nil, err
	}
	moves, err := a.ops.Moves(ctx, name, limit)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, ops.NewMoveListView(moves), nil
}
