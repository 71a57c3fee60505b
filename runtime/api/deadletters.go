package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/runtime/ops"
)

// Bulk dead-letter actions and remembered discards:
//
//	POST /api/dead-letters/retry      {filter}: retry every key with a matching dead letter
//	POST /api/dead-letters/discard    {filter}: discard every matching dead letter
//	GET  /api/dead-letters/discarded?subscription=&after=&limit=
//
// A filter is {"subscription" (required), "partition", "key", "type",
// "error_contains", "failed_after", "failed_before" (RFC 3339)}. Discards
// record who made them: the X-Causeway-Actor header, else "api".

// filterBody is a bulk action's JSON filter.
type filterBody struct {
	Subscription  string `json:"subscription"`
	Partition     *int   `json:"partition"`
	Key           string `json:"key"`
	Type          string `json:"type"`
	ErrorContains string `json:"error_contains"`
	FailedAfter   string `json:"failed_after"`
	FailedBefore  string `json:"failed_before"`
}

// deadLetterFilter parses and checks a bulk action's filter.
func deadLetterFilter(body []byte) (checkpoint.DeadLetterFilter, error) {
	var fb filterBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fb); err != nil {
		return checkpoint.DeadLetterFilter{}, badRequest("request body: want a JSON filter {\"subscription\": …}: %v", err)
	}
	if dec.More() {
		return checkpoint.DeadLetterFilter{}, badRequest("request body: one JSON object expected")
	}
	var f checkpoint.DeadLetterFilter
	if fb.Subscription == "" {
		return f, badRequest("filter: subscription is required")
	}
	var err error
	if f.Subscription, err = subscriptionName("subscription", fb.Subscription); err != nil {
		return f, err
	}
	for name, v := range map[string]string{"key": fb.Key, "type": fb.Type, "error_contains": fb.ErrorContains} {
		if err := checkText("filter "+name, v); err != nil {
			return f, err
		}
	}
	f.Partition, f.Key, f.Type, f.ErrorContains = fb.Partition, fb.Key, fb.Type, fb.ErrorContains
	for _, t := range []struct {
		name string
		s    string
		to   *time.Time
	}{{"failed_after", fb.FailedAfter, &f.FailedAfter}, {"failed_before", fb.FailedBefore, &f.FailedBefore}} {
		if t.s == "" {
			continue
		}
		if *t.to, err = time.Parse(time.RFC3339Nano, t.s); err != nil {
			return f, badRequest("filter %s %q: want an RFC 3339 time", t.name, t.s)
		}
	}
	if err := f.Validate(); err != nil {
		return f, badRequest("%v", err)
	}
	return f, nil
}

func (a *api) retryDeadLetters(ctx context.Context, req *http.Request, body []byte) (int, any, error) {
	if _, err := query(req); err != nil {
		return 0, nil, err
	}
	f, err := deadLetterFilter(body)
	if err != nil {
		return 0, nil, err
	}
	res, err := a.ops.RetryDeadLetters(ctx, f)
	if err != nil {
		return 0, nil, err
	}
	a.logger.Info("causeway: bulk dead-letter retry requested through the API", "subscription", f.Subscription,
		"keys", res.Keys, "dead_letters", res.DeadLetters)
	return http.StatusAccepted, ops.NewBulkActionView(f.Subscription, "retry", "", res), nil
}

func (a *api) discardDeadLetters(ctx context.Context, req *http.Request, body []byte) (int, any, error) {
	if _, err := query(req); err != nil {
		return 0, nil, err
	}
	by, err := actor(req)
	if err != nil {
		return 0, nil, err
	}
	f, err := deadLetterFilter(body)
	if err != nil {
		return 0, nil, err
	}
	res, err := a.ops.DiscardDeadLetters(ctx, f, by)
	if err != nil {
		return 0, nil, err
	}
	a.logger.Info("causeway: dead letters discarded in bulk through the API", "subscription", f.Subscription,
		"dead_letters", res.DeadLetters, "keys_released", res.Keys, "by", by)
	return http.StatusOK, ops.NewBulkActionView(f.Subscription, "discard", by, res), nil
}

func (a *api) discardedEvents(ctx context.Context, req *http.Request) (int, any, error) {
	q, err := query(req, "subscription", "after", "limit")
	if err != nil {
		return 0, nil, err
	}
	var dq checkpoint.DiscardedQuery
	if dq.Subscription, err = subscriptionName("subscription", q.Get("subscription")); err != nil {
		return 0, nil, err
	}
	if s := q.Get("after"); s != "" {
		if dq.AfterID, err = strconv.ParseInt(s, 10, 64); err != nil || dq.AfterID < 0 {
			return 0, nil, badRequest("after %q: want a discarded event id", s)
		}
	}
	if dq.Limit, err = limitParam(q); err != nil {
		return 0, nil, err
	}
	ds, err := a.ops.DiscardedEvents(ctx, dq)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, ops.NewDiscardedListView(ds, len(ds) == dq.Limit), nil
}
