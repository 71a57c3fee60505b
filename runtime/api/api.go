// Package api is Causeway's HTTP management API: health, readiness,
// Prometheus metrics, and the operations of package ops (status, replay,
// dead letters, sagas, queues) as JSON, in ops's shapes. runtime.Run serves it on
// CAUSEWAY_HTTP_ADDR; Handler serves it anywhere.
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/projection"
	"github.com/causewayhq/causeway/runtime/ops"
	"github.com/causewayhq/causeway/saga"
	"github.com/causewayhq/causeway/worker/queue"
)

// The management API.
//
//	GET  /healthz                      liveness (no database)
//	GET  /readyz                       readiness: database, horizon, lag (200 or 503)
//	GET  /metrics                      Prometheus metrics
//	GET  /api/status
//	GET  /api/subscriptions
//	GET  /api/subscriptions/{name}
//	POST /api/subscriptions/{name}/move      {"to": "start|end|position|time", "position", "time"}
//	GET  /api/subscriptions/{name}/moves?limit=
//	POST /api/projections/{name}/replay
//	GET  /api/projections/{name}/builds
//	POST /api/projections/{name}/rebuild
//	POST /api/projections/{name}/rebuild/abort
//	POST /api/projections/{name}/builds/{n}/drop
//	GET  /api/dead-letters?subscription=&partition=&key=&after=&limit=
//	GET  /api/dead-letters/{subscription}/{id}
//	POST /api/dead-letters/{subscription}/{id}/retry
//	POST /api/dead-letters/{subscription}/{id}/discard   (X-Causeway-Actor: who, else "api")
//	POST /api/dead-letters/retry and /discard         a JSON filter: bulk (deadletters.go)
//	GET  /api/dead-letters/discarded?subscription=&after=&limit=
//	GET  /api/sagas?type=&status=&correlation_id=&after=&limit=
//	GET  /api/sagas/{id}
//	POST /api/sagas/{id}/retry|resume|cancel
//	GET  /api/queues
//	GET  /api/queues/{queue}
//	GET  /api/queues/{queue}/dead-letters?after=&limit=
//	GET  /api/queues/{queue}/dead-letters/{id}
//	POST /api/queues/{queue}/dead-letters/{id}/requeue
//	DELETE /api/queues/{queue}/dead-letters/{id}
//
// Everything under /api/ needs "Authorization: Bearer <CAUSEWAY_API_TOKEN>"
// when a token is configured (Run refuses to serve without one on anything
// but a loopback address). Responses are JSON; errors are {"error": "..."}.

const (
	// maxRequestBody bounds a request body (the API takes none that matter).
	maxRequestBody = 64 << 10
	// apiTimeout bounds one request's database work.
	apiTimeout = time.Minute
	// List paging.
	defaultListLimit = 100
	maxListLimit     = 1000
)

// Config is what the API serves.
type Config struct {
	Ops *ops.Ops
	// Token, when set, is the bearer token every /api/ request must carry.
	Token string
	// Metrics serves /metrics (telemetry.Telemetry.MetricsHandler); nil
	// answers 404.
	Metrics http.Handler
	Logger  *slog.Logger
}

// api serves the management API of one runtime.
type api struct {
	logger *slog.Logger
	ops    *ops.Ops
	mux    *http.ServeMux
	// token is the SHA-256 of the API token, nil when the API is open.
	token *[sha256.Size]byte
}

// Handler serves the management API.
func Handler(cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	a := &api{logger: cfg.Logger, ops: cfg.Ops, mux: http.NewServeMux()}
	if cfg.Token != "" {
		sum := sha256.Sum256([]byte(cfg.Token))
		a.token = &sum
	}
	m := a.mux
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	m.Handle("GET /readyz", a.endpoint(a.readyz))
	if cfg.Metrics != nil {
		m.Handle("GET /metrics", cfg.Metrics)
	}

	m.Handle("GET /api/status", a.endpoint(a.status))
	m.Handle("GET /api/subscriptions", a.endpoint(a.subscriptions))
	m.Handle("GET /api/subscriptions/{name}", a.endpoint(a.subscription))
	m.Handle("POST /api/subscriptions/{name}/move", a.withBody(a.move))
	m.Handle("GET /api/subscriptions/{name}/moves", a.endpoint(a.moves))
	m.Handle("POST /api/projections/{name}/replay", a.endpoint(a.replay))
	m.Handle("GET /api/projections/{name}/builds", a.endpoint(a.builds))
	m.Handle("POST /api/projections/{name}/rebuild", a.endpoint(a.rebuild))
	m.Handle("POST /api/projections/{name}/rebuild/abort", a.endpoint(a.abortRebuild))
	m.Handle("POST /api/projections/{name}/builds/{n}/drop", a.endpoint(a.dropBuild))
	m.Handle("GET /api/dead-letters", a.endpoint(a.deadLetters))
	m.Handle("GET /api/dead-letters/{subscription}/{id}", a.endpoint(a.deadLetter))
	m.Handle("POST /api/dead-letters/{subscription}/{id}/retry", a.endpoint(a.retryDeadLetter))
	m.Handle("POST /api/dead-letters/{subscription}/{id}/discard", a.endpoint(a.discardDeadLetter))
	m.Handle("POST /api/dead-letters/retry", a.withBody(a.retryDeadLetters))
	m.Handle("POST /api/dead-letters/discard", a.withBody(a.discardDeadLetters))
	m.Handle("GET /api/dead-letters/discarded", a.endpoint(a.discardedEvents))
	m.Handle("GET /api/sagas", a.endpoint(a.sagas))
	m.Handle("GET /api/sagas/{id}", a.endpoint(a.saga))
	m.Handle("POST /api/sagas/{id}/retry", a.endpoint(a.sagaAction(a.ops.RetrySaga)))
	m.Handle("POST /api/sagas/{id}/resume", a.endpoint(a.sagaAction(a.ops.ResumeSaga)))
	m.Handle("POST /api/sagas/{id}/cancel", a.endpoint(a.sagaAction(a.ops.CancelSaga)))
	m.Handle("GET /api/queues", a.endpoint(a.queues))
	m.Handle("GET /api/queues/{queue}", a.endpoint(a.queue))
	m.Handle("GET /api/queues/{queue}/dead-letters", a.endpoint(a.queueDeadLetters))
	m.Handle("GET /api/queues/{queue}/dead-letters/{id}", a.endpoint(a.queueDeadLetter))
	m.Handle("POST /api/queues/{queue}/dead-letters/{id}/requeue", a.endpoint(a.requeueQueueDeadLetter))
	m.Handle("DELETE /api/queues/{queue}/dead-letters/{id}", a.endpoint(a.discardQueueDeadLetter))
	return a
}

// ServeHTTP authenticates /api/, recovers panics and turns the mux's own
// plain-text 404 and 405 answers into JSON.
func (a *api) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			a.logger.Error("causeway: management API handler panicked", "method", req.Method, "path", req.URL.Path, "panic", p)
			writeError(w, http.StatusInternalServerError, "internal error")
		}
	}()
	req.Body = http.MaxBytesReader(w, req.Body, maxRequestBody)
	if p := path.Clean("/" + req.URL.Path); p == "/api" || strings.HasPrefix(p, "/api/") {
		if !a.authenticate(w, req) {
			return
		}
	}
	// Names, keys and ids end up as SQL text parameters: refuse what
	// PostgreSQL cannot hold as text here, as the client's mistake.
	if err := checkText("path", req.URL.Path); err != nil {
		a.fail(w, req, err)
		return
	}
	h, pattern := a.mux.Handler(req)
	if pattern != "" {
		a.mux.ServeHTTP(w, req)
		return
	}
	// Not found, method not allowed, or a redirect to the cleaned path:
	// let the mux decide, then answer in JSON.
	rec := &recorder{header: http.Header{}}
	h.ServeHTTP(rec, req)
	switch rec.code {
	case http.StatusNotFound:
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s %s", req.Method, req.URL.Path))
	case http.StatusMethodNotAllowed:
		allow := rec.header.Get("Allow")
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s (allowed: %s)", req.Method, req.URL.Path, allow))
	default:
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.code)
		_, _ = w.Write(rec.body)
	}
}

// recorder captures a response of the mux's fallback handlers.
type recorder struct {
	header http.Header
	code   int
	body   []byte
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	r.body = append(r.body, b...)
	return len(b), nil
}

// authenticate checks the bearer token in constant time, answering 401
// itself when it is missing or wrong.
func (a *api) authenticate(w http.ResponseWriter, req *http.Request) bool {
	if a.token == nil {
		return true // open: loopback only (runtime refuses otherwise)
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(req.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="causeway"`)
		writeError(w, http.StatusUnauthorized, "missing bearer token (Authorization: Bearer <CAUSEWAY_API_TOKEN>)")
		return false
	}
	// Hashing first makes the comparison constant-time whatever the
	// lengths.
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	if subtle.ConstantTimeCompare(sum[:], a.token[:]) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="causeway", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "invalid bearer token")
		return false
	}
	return true
}

// apiFunc handles one request: a status and a value to encode, or an error.
type apiFunc func(ctx context.Context, req *http.Request) (int, any, error)

// endpoint adapts an apiFunc: request timeout, JSON out, errors mapped to
// status codes.
func (a *api) endpoint(fn apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		ctx, cancel := context.WithTimeout(req.Context(), apiTimeout)
		defer cancel()
		if req.Method == http.MethodPost {
			if err := drainBody(req); err != nil {
				a.fail(w, req, err)
				return
			}
		}
		code, v, err := fn(ctx, req)
		if err != nil {
			a.fail(w, req, err)
			return
		}
		writeJSON(w, code, v)
	})
}

// drainBody reads and ignores a request body, within the size limit.
func drainBody(req *http.Request) error {
	_, err := io.Copy(io.Discard, req.Body)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return &apiError{code: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("request body over %d bytes", tooBig.Limit)}
	}
	if err != nil {
		return badRequest("read request body: %v", err)
	}
	return nil
}

// apiError carries its status code (malformed input and the like).
type apiError struct {
	code int
	msg  string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &apiError{code: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// statusOf maps an error to its HTTP status.
func statusOf(err error) int {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return ae.code
	case errors.Is(err, checkpoint.ErrNotFound), errors.Is(err, saga.ErrNotFound), errors.Is(err, ops.ErrUnknownProjection),
		errors.Is(err, queue.ErrUnknownQueue), errors.Is(err, queue.ErrNotFound),
		errors.Is(err, projection.ErrUnknown), errors.Is(err, projection.ErrNoBuild):
		return http.StatusNotFound
	case errors.Is(err, saga.ErrInvalidState), errors.Is(err, projection.ErrBuildInProgress), errors.Is(err, projection.ErrBuildState),
		errors.Is(err, projection.ErrNotVersioned), errors.Is(err, projection.ErrVersioned):
		return http.StatusConflict
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func (a *api) fail(w http.ResponseWriter, req *http.Request, err error) {
	code := statusOf(err)
	if code >= 500 && req.Context().Err() == nil {
		a.logger.Error("causeway: management API request failed", "method", req.Method, "path", req.URL.Path, "err", err)
	}
	writeError(w, code, err.Error())
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b, _ = json.Marshal(map[string]string{"error": "encode response: " + err.Error()})
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// query checks a request's query string: only the allowed parameters, each
// at most once.
func query(req *http.Request, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(req.URL.RawQuery)
	if err != nil {
		return nil, badRequest("malformed query string: %v", err)
	}
	for k, v := range q {
		if err := checkText("query parameter name", k); err != nil {
			return nil, err
		}
		for _, s := range v {
			if err := checkText("query parameter "+strconv.Quote(k), s); err != nil {
				return nil, err
			}
		}
		if !slices.Contains(allowed, k) {
			return nil, badRequest("unknown query parameter %q (want %s)", k, strings.Join(allowed, ", "))
		}
		if len(v) > 1 {
			return nil, badRequest("query parameter %q given %d times", k, len(v))
		}
	}
	return q, nil
}

// checkText refuses text PostgreSQL cannot store or compare: invalid
// UTF-8 or a NUL byte.
func checkText(what, s string) error {
	if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
		return badRequest("%s: must be valid UTF-8 without NUL bytes", what)
	}
	return nil
}

// limitParam parses limit= (default defaultListLimit).
func limitParam(q url.Values) (int, error) {
	s := q.Get("limit")
	if s == "" {
		return defaultListLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxListLimit {
		return 0, badRequest("limit %q: want a whole number from 1 to %d", s, maxListLimit)
	}
	return n, nil
}

// subscriptionName validates a subscription (or projection) name.
func subscriptionName(what, name string) (string, error) {
	if err := checkpoint.ValidateName(name); err != nil {
		return "", badRequest("%s name %q: want 1–128 letters, digits, _ . : -, starting with a letter", what, name)
	}
	return name, nil
}

func deadLetterID(req *http.Request) (string, int64, error) {
	sub, err := subscriptionName("subscription", req.PathValue("subscription"))
	if err != nil {
		return "", 0, err
	}
	s := req.PathValue("id")
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		return "", 0, badRequest("dead letter id %q: want a positive whole number", s)
	}
	return sub, id, nil
}

func sagaID(req *http.Request) (uuid.UUID, error) {
	s := req.PathValue("id")
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, badRequest("saga id %q: want a UUID", s)
	}
	return id, nil
}

func (a *api) readyz(ctx context.Context, req *http.Request) (int, any, error) {
	rd := a.ops.Ready(ctx)
	v := readyView{Ready: rd.Ready, Reasons: rd.Reasons}
	if v.Reasons == nil {
		v.Reasons = []string{}
	}
	if !v.Ready {
		v.Error = "not ready: " + strings.Join(v.Reasons, "; ")
		return http.StatusServiceUnavailable, v, nil
	}
	return http.StatusOK, v, nil
}

// readyView is the Ops.Ready verdict, with the error summary every error
// response has.
type readyView struct {
	Ready   bool     `json:"ready"`
	Reasons []string `json:"reasons"`
	Error   string   `json:"error,omitempty"`
}

func (a *api) status(ctx context.Context, req *http.Request) (int, any, error) {
	if _, err := query(req); err != nil {
		return 0, nil, err
	}
	st, err := a.ops.Status(ctx)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, ops.NewStatusView(st, a.ops.Registered()), nil
}

func (a *api) subscriptions(ctx context.Context, req *http.Request) (int, any, error) {
	if _, err := query(req); err != nil {
		return 0, nil, err
	}
	subs, err := a.ops.Subscriptions(ctx)
	if err != nil {
		return 0, nil, err
	}
	registered := a.ops.Registered()
	out := make([]ops.SubscriptionView, 0, len(subs))
	for _, st := range subs {
		out = append(out, ops.NewSubscriptionView(st, slices.Contains(registered, st.Name)))
	}
	return http.StatusOK, map[string]any{"subscriptions": out}, nil
}

func (a *api) subscription(ctx context.Context, req *http.Request) (int, any, error) {
	name, err := subscriptionName("subscription", req.PathValue("name"))
	if err != nil {
		return 0, nil, err
	}
	if _, err := query(req); err != nil {
		return 0, nil, err
	}
	st, err := a.ops.Subscription(ctx, name)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, ops.NewSubscriptionView(st, slices.Contains(a.ops.Registered(), name)), nil
}

func (a *api) replay(ctx context.Context, req *http.Request) (int, any, error) {
	name, err := subscriptionName("projection", req.PathValue("name"))
	if err != nil {
		return 0, nil, err
	}
	if _, err := query(req); err != nil {
		return 0, nil, err
	}
	res, err := a.ops.Replay(ctx, name, false, nil)
	if err != nil {
		return 0, nil, err
	}
	a.logger.Info("causeway: projection reset for replay through the API", "projection", name, "events", res.Events)
	return http.StatusAccepted, ops.NewReplayView(name, res), nil
}

func (a *api) deadLetters(ctx context.Context, req *http.Request) (int, any, error) {
	q, err := query(req, "subscription", "partition", "key", "after", "limit")
	if err != nil {
		return 0, nil, err
	}
	var dq checkpoint.DeadLetterQuery
	if s := q.Get("subscription"); s != "" {
		if dq.Subscription, err = subscriptionName("subscription", s); err != nil {
			return 0, nil, err
		}
		if err := a.ops.CheckSubscription(ctx, s); err != nil {
			return 0, nil, err // unknown: 404
		}
	}
	if s := q.Get("partition"); s != "" {
		p, err := strconv.Atoi(s)
		if err != nil || p < 0 || p >= checkpoint.MaxPartitions {
			return 0, nil, badRequest("partition %q: want a whole number from 0 to %d", s, checkpoint.MaxPartitions-1)
		}
		dq.Partition = &p
	}
	dq.Key = q.Get("key")
	if s := q.Get("after"); s != "" {
		if dq.AfterID, err = strconv.ParseInt(s, 10, 64); err != nil || dq.AfterID < 0 {
			return 0, nil, badRequest("after %q: want a dead letter id", s)
		}
	}
	if dq.Limit, err = limitParam(q); err != nil {
		return 0, nil, err
	}
	dls, err := a.ops.DeadLetters(ctx, dq)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, ops.NewDeadLetterListView(dls, len(dls) == dq.Limit), nil
}

func (a *api) deadLetter(ctx context.Context, req *http.Request) (int, any, error) {
	sub, id, err := deadLetterID(req)
	if err != nil {
		return 0, nil, err
	}
	if _, err := query(req); err != nil {
		return 0, nil, err
	}
	dl, e, err := a.ops.DeadLetter(ctx, sub, id)
	if err != nil {
		return 0, nil, err
	}
	v := ops.NewDeadLetterView(dl)
	if e != nil {
		v.Event = ops.NewEventView(*e)
	}
	return http.StatusOK, v, nil
}

func (a *api) retryDeadLetter(ctx context.Context, req *http.Request) (int, any, error) {
	sub, id, err := deadLetterID(req)
	if err != nil {
		return 0, nil, err
	}
	if _, err := query(req); err != nil {
		return 0, nil, err
	}
	if err := a.ops.RetryDeadLetter(ctx, sub, id); err != nil {
		return 0, nil, err
	}
	a.logger.Info("causeway: dead letter retry requested through the API", "subscription", sub, "id", id)
	return http.StatusAccepted, ops.DeadLetterActionView{Subscription: sub, ID: id, Action: "retry",
		Status: "requested: the partition's owner re-delivers the key"}, nil
}

func (a *api) discardDeadLetter(ctx context.Context, req *http.Request) (int, any, error) {
	sub, id, err := deadLetterID(req)
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
	if err := a.ops.DiscardDeadLetter(ctx, sub, id, by); err != nil {
		return 0, nil, err
	}
	a.logger.Info("causeway: dead letter discarded through the API", "subscription", sub, "id", id, "by", by)
	return http.StatusOK, ops.DeadLetterActionView{Subscription: sub, ID: id, Action: "discard", Status: "discarded"}, nil
}

func (a *api) sagas(ctx context.Context, req *http.Request) (int, any, error) {
	q, err := query(req, "type", "status", "correlation_id", "after", "limit")
	if err != nil {
		return 0, nil, err
	}
	sq := saga.Query{Type: q.Get("type"), CorrelationID: q.Get("correlation_id")}
	if s := q.Get("status"); s != "" {
		if !saga.Status(s).Valid() {
			return 0, nil, badRequest("status %q: want one of %s", s, statusNames())
		}
		sq.Status = saga.Status(s)
	}
	if s := q.Get("after"); s != "" {
		if sq.After, err = uuid.Parse(s); err != nil {
			return 0, nil, badRequest("after %q: want a saga id (UUID)", s)
		}
	}
	if sq.Limit, err = limitParam(q); err != nil {
		return 0, nil, err
	}
	insts, err := a.ops.Sagas(ctx, sq)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, ops.NewSagaListView(insts, len(insts) == sq.Limit), nil
}

func (a *api) saga(ctx context.Context, req *http.Request) (int, any, error) {
	id, err := sagaID(req)
	if err != nil {
		return 0, nil, err
	}
	if _, err := query(req); err != nil {
		return 0, nil, err
	}
	d, err := a.ops.Saga(ctx, id)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, ops.NewSagaDetailsView(d), nil
}

// sagaAction serves retry, resume and cancel.
func (a *api) sagaAction(act func(context.Context, uuid.UUID) (saga.Instance, error)) apiFunc {
	return func(ctx context.Context, req *http.Request) (int, any, error) {
		id, err := sagaID(req)
		if err != nil {
			return 0, nil, err
		}
		if _, err := query(req); err != nil {
			return 0, nil, err
		}
		inst, err := act(ctx, id)
		if err != nil {
			return 0, nil, err
		}
		a.logger.Info("causeway: saga action through the API", "action", path.Base(req.URL.Path), "saga", inst.Type,
			"id", id, "status", inst.Status)
		return http.StatusOK, ops.NewSagaView(inst), nil
	}
}

// statusNames lists the saga statuses for messages: "running, waiting, …".
func statusNames() string {
	names := make([]string, len(saga.Statuses))
	for i, st := range saga.Statuses {
		names[i] = string(st)
	}
	return strings.Join(names, ", ")
}
