package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/causewayhq/causeway/runtime/ops"
)

// ActorHeader names who asks for an action through the API (kept with a
// move); without it the actor is "api".
const ActorHeader = "X-Causeway-Actor"

// moveRequest is the body of POST /api/subscriptions/{name}/move.
type moveRequest struct {
	To       string `json:"to"`
	Position string `json:"position"`
	Time     string `json:"time"`
}

// bodyKey carries a request's body past endpoint, which drains bodies.
type bodyKey struct{}

// withBody reads a request's body (within maxRequestBody) before endpoint
// runs fn, which finds it with requestBody.
func (a *api) withBody(fn apiFunc) http.Handler {
	inner := a.endpoint(fn)
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, err := io.ReadAll(req.Body)
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			a.fail(w, req, &apiError{code: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("request body over %d bytes", tooBig.Limit)})
			return
		case err != nil:
			a.fail(w, req, badRequest("read request body: %v", err))
			return
		}
		req = req.WithContext(context.WithValue(req.Context(), bodyKey{}, b))
		req.Body = http.NoBody
		inner.ServeHTTP(w, req)
	})
}

// requestBody is the body withBody read.
func requestBody(req *http.Request) []byte {
	b, _ := req.Context().Value(bodyKey{}).([]byte)
	return b
}

// actor is who asks: the X-Causeway-Actor header, else "api".
func actor(req *http.Request) (string, error) {
	by := strings.TrimSpace(req.Header.Get(ActorHeader))
	if by == "" {
		return "api", nil
	}
	if err := checkText(ActorHeader, by); err != nil {
		return "", err
	}
	return by, nil
}

func (a *api) move(ctx context.Context, req *http.Request) (int, any, error) {
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
	dec := json.NewDecoder(bytes.NewReader(requestBody(req)))
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
