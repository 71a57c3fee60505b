package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// ActorHeader names who asks for an action through the API; it is kept with
// what the action records (a move, a discard). Without it the actor is "api".
const ActorHeader = "X-Causeway-Actor"

// actor is who asks: the ActorHeader, else "api".
func actor(req *http.Request) (string, error) {
	by := strings.TrimSpace(req.Header.Get(ActorHeader))
	if by == "" {
		return "api", nil
	}
	if err := checkText(ActorHeader, by); err != nil {
		return "", err
	}
	if len(by) > 256 {
		return "", badRequest("%s: at most 256 bytes", ActorHeader)
	}
	return by, nil
}

// withBody reads a request's body (within the API's limit) before endpoint
// (which drains bodies) runs fn with it.
func (a *api) withBody(fn func(ctx context.Context, req *http.Request, body []byte) (int, any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			a.fail(w, req, &apiError{code: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("request body over %d bytes", tooBig.Limit)})
			return
		case err != nil:
			a.fail(w, req, badRequest("read request body: %v", err))
			return
		}
		req.Body = http.NoBody
		a.endpoint(func(ctx context.Context, req *http.Request) (int, any, error) { return fn(ctx, req, body) }).ServeHTTP(w, req)
	})
}
