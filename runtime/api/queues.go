package api

import (
	"context"
	"net/http"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/runtime/ops"
	"github.com/causewayhq/causeway/worker/queue"
)

// queueName validates the {queue} of a path.
func queueName(req *http.Request) (string, error) {
	name := req.PathValue("queue")
	if err := queue.ValidateName(name); err != nil {
		return "", badRequest("queue name %q: want a letter, then letters, digits, _ . : / - (at most 128 bytes; a / written %%2F)", name)
	}
	return name, nil
}

// queueDeadLetterID validates the {queue} and {id} of a path.
func queueDeadLetterID(req *http.Request) (string, uuid.UUID, error) {
	name, err := queueName(req)
	if err != nil {
		return "", uuid.Nil, err
	}
	s := req.PathValue("id")
	id, err := uuid.Parse(s)
	if err != nil {
		return "", uuid.Nil, badRequest("message id %q: want a UUID", s)
	}
	return name, id, nil
}

func (a *api) queues(ctx context.Context, req *http.Request) (int, any, error) {
	if _, err := query(req); err != nil {
		return 0, nil, err
	}
	qs, err := a.ops.Queues(ctx)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, ops.NewQueueListView(qs), nil
}

func (a *api) queue(ctx context.Context, req *http.Request) (int, any, error) {
	name, err := queueName(req)
	if err != nil {
		return 0, nil, err
	}
	if _, err := query(req); err != nil {
		return 0, nil, err
	}
	q, err := a.ops.Queue(ctx, name)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, ops.NewQueueView(q), nil
}

func (a *api) queueDeadLetters(ctx context.Context, req *http.Request) (int, any, error) {
	name, err := queueName(req)
	if err != nil {
		return 0, nil, err
	}
	q, err := query(req, "after", "limit")
	if err != nil {
		return 0, nil, err
	}
	after := uuid.Nil
	if s := q.Get("after"); s != "" {
		if after, err = uuid.Parse(s); err != nil {
			return 0, nil, badRequest("after %q: want a message id (UUID)", s)
		}
	}
	limit, err := limitParam(q)
	if err != nil {
		return 0, nil, err
	}
	dls, err := a.ops.QueueDeadLetters(ctx, name, after, limit+1)
	if err != nil {
		return 0, nil, err
	}
	more := len(dls) > limit
	if more {
		dls = dls[:limit]
	}
	return http.StatusOK, ops.NewQueueDeadLetterListView(dls, more), nil
}

func (a *api) queueDeadLetter(ctx context.Context, req *http.Request) (int, any, error) {
	name, id, err := queueDeadLetterID(req)
	if err != nil {
		return 0, nil, err
	}
	if _, err := query(req); err != nil {
		return 0, nil, err
	}
	d, err := a.ops.QueueDeadLetter(ctx, name, id)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, ops.NewQueueDeadLetterView(d), nil
}

func (a *api) requeueQueueDeadLetter(ctx context.Context, req *http.Request) (int, any, error) {
	name, id, err := queueDeadLetterID(req)
	if err != nil {
		return 0, nil, err
	}
	if _, err := query(req); err != nil {
		return 0, nil, err
	}
	if err := a.ops.RequeueQueueDeadLetter(ctx, name, id); err != nil {
		return 0, nil, err
	}
	a.logger.Info("causeway: queue dead letter requeued through the API", "queue", name, "id", id)
	return http.StatusOK, ops.QueueDeadLetterActionView{Queue: name, ID: id.String(), Action: "requeue",
		Status: "requeued: ready now, attempts reset"}, nil
}

func (a *api) discardQueueDeadLetter(ctx context.Context, req *http.Request) (int, any, error) {
	name, id, err := queueDeadLetterID(req)
	if err != nil {
		return 0, nil, err
	}
	if _, err := query(req); err != nil {
		return 0, nil, err
	}
	if err := a.ops.DiscardQueueDeadLetter(ctx, name, id); err != nil {
		return 0, nil, err
	}
	a.logger.Info("causeway: queue dead letter discarded through the API", "queue", name, "id", id)
	return http.StatusOK, ops.QueueDeadLetterActionView{Queue: name, ID: id.String(), Action: "discard", Status: "discarded"}, nil
}
