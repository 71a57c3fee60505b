package ops

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	pgstore "github.com/causewayhq/causeway/eventlog/postgres"
	"github.com/causewayhq/causeway/projection"
	"github.com/causewayhq/causeway/saga"
	"github.com/causewayhq/causeway/worker"
	"github.com/causewayhq/causeway/worker/queue"
)

// The JSON shapes of the operations' resources, shared by the HTTP API and
// the command line's --json: snake_case names, positions in their String
// form ("txid/seq"), times in RFC 3339 (UTC; omitted when unset) and
// durations in seconds. They are built from the stores' types explicitly,
// so a change there never changes the API by accident. docs/api.md lists
// them.

// timestamp renders t in RFC 3339, or "" for the zero time.
func timestamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// rawJSON passes stored JSON through, or quotes it when it is not JSON.
func rawJSON(b []byte) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	if json.Valid(b) {
		return json.RawMessage(b)
	}
	q, _ := json.Marshal(string(b))
	return q
}

// StatusView is the whole system at a glance (GET /api/status, status --json).
type StatusView struct {
	Head          string                         `json:"head"`
	Horizon       HorizonView                    `json:"horizon"`
	Subscriptions []SubscriptionView             `json:"subscriptions"`
	Sagas         map[string]map[saga.Status]int `json:"sagas"`
	Builds        []BuildView                    `json:"builds,omitempty"` // versioned projections only
}

// HorizonView: what holds the log's visibility horizon back.
type HorizonView struct {
	Held        bool    `json:"held"`
	Xmin        uint64  `json:"xmin"`
	PID         int     `json:"pid,omitempty"`
	XID         uint64  `json:"xid,omitempty"`
	Since       string  `json:"since,omitempty"`
	AgeSeconds  float64 `json:"age_seconds"`
	State       string  `json:"state,omitempty"`
	Query       string  `json:"query,omitempty"`
	Database    string  `json:"database,omitempty"`
	Application string  `json:"application,omitempty"`
}

// NewHorizonView renders h.
func NewHorizonView(h pgstore.HorizonInfo) HorizonView {
	return HorizonView{Held: h.Held, Xmin: h.Xmin, PID: h.PID, XID: h.XID, Since: timestamp(h.Since),
		AgeSeconds: h.Age.Seconds(), State: h.State, Query: h.Query, Database: h.Database, Application: h.Application}
}

// SubscriptionView is one subscription with its members and partitions.
type SubscriptionView struct {
	Name string `json:"name"`
	// Registered: this program runs it (others may be another binary's).
	Registered  bool            `json:"registered"`
	State       string          `json:"state"`
	Head        string          `json:"head"`
	LagEvents   int64           `json:"lag_events"`
	LagSeconds  float64         `json:"lag_seconds"`
	DeadLetters int             `json:"dead_letters"`
	Members     []MemberView    `json:"members"`
	Partitions  []PartitionView `json:"partitions"`
}

// MemberView is a process in a subscription's consumer group.
type MemberView struct {
	ID   string `json:"id"`
	Host string `json:"host,omitempty"`
	PID  int    `json:"pid,omitempty"`
}

// PartitionView is one partition: its owner, lease, checkpoint and lag.
type PartitionView struct {
	Partition      int     `json:"partition"`
	Owner          string  `json:"owner,omitempty"`
	Epoch          int64   `json:"epoch"`
	LeaseExpiresAt string  `json:"lease_expires_at,omitempty"`
	Checkpoint     string  `json:"checkpoint"`
	CommittedAt    string  `json:"committed_at,omitempty"`
	LagEvents      int64   `json:"lag_events"`
	LagSeconds     float64 `json:"lag_seconds"`
	State          string  `json:"state"`
}

// NewSubscriptionView renders s; registered: this program runs it.
func NewSubscriptionView(s worker.SubscriptionStatus, registered bool) SubscriptionView {
	v := SubscriptionView{Name: s.Name, Registered: registered, State: s.State, Head: s.Head.String(),
		LagEvents: s.LagEvents, LagSeconds: s.LagSeconds, DeadLetters: s.DeadLetters,
		Members: make([]MemberView, 0, len(s.Members)), Partitions: make([]PartitionView, 0, len(s.Partitions))}
	for _, m := range s.Members {
		v.Members = append(v.Members, MemberView{ID: m.ID, Host: m.Host, PID: m.PID})
	}
	for _, p := range s.Partitions {
		v.Partitions = append(v.Partitions, PartitionView{Partition: p.Partition, Owner: p.Owner, Epoch: p.Epoch,
			LeaseExpiresAt: timestamp(p.LeaseExpiresAt), Checkpoint: p.Checkpoint.String(),
			CommittedAt: timestamp(p.CommittedAt), LagEvents: p.LagEvents, LagSeconds: p.LagSeconds, State: p.State})
	}
	return v
}

// ReplayView is the outcome of a replay (or of its reset).
type ReplayView struct {
	Projection      string  `json:"projection"`
	Events          int64   `json:"events"`
	DurationSeconds float64 `json:"duration_seconds"`
	Status          string  `json:"status"`
}

// NewReplayView renders a replay of projection name.
func NewReplayView(name string, r projection.ReplayResult) ReplayView {
	return ReplayView{Projection: name, Events: r.Events, DurationSeconds: r.Duration.Seconds(),
		Status: "reset: running runners rebuild it from the start"}
}

// DeadLetterView is one dead letter; Event is set when it is shown alone.
type DeadLetterView struct {
	ID             int64      `json:"id"`
	Subscription   string     `json:"subscription"`
	Partition      int        `json:"partition"`
	Key            string     `json:"key"`
	EventID        string     `json:"event_id"`
	Position       string     `json:"position"`
	StreamID       string     `json:"stream_id"`
	Version        int64      `json:"version"`
	Type           string     `json:"type"`
	Blocked        bool       `json:"blocked"`
	State          string     `json:"state"`
	Error          string     `json:"error"`
	Attempts       int        `json:"attempts"`
	FirstFailedAt  string     `json:"first_failed_at,omitempty"`
	LastFailedAt   string     `json:"last_failed_at,omitempty"`
	NextAttemptAt  string     `json:"next_attempt_at,omitempty"`
	RetryRequested bool       `json:"retry_requested"`
	Event          *EventView `json:"event,omitempty"`
}

// NewDeadLetterView renders d (without its event).
func NewDeadLetterView(d checkpoint.DeadLetter) DeadLetterView {
	return DeadLetterView{ID: d.ID, Subscription: d.Subscription, Partition: d.Partition, Key: d.Key,
		EventID: d.EventID.String(), Position: d.Position.String(), StreamID: d.StreamID, Version: d.Version,
		Type: d.Type, Blocked: d.Blocked, State: DeadLetterState(d), Error: d.Error, Attempts: d.Attempts,
		FirstFailedAt: timestamp(d.FirstFailedAt), LastFailedAt: timestamp(d.LastFailedAt),
		NextAttemptAt: timestamp(d.NextAttemptAt), RetryRequested: d.RetryRequested}
}

// DeadLetterState names what a dead letter waits for: "retrying" (the
// partition tries it again at NextAttemptAt), "dead" (an operator), or
// "parked" (behind an earlier dead letter of its key).
func DeadLetterState(d checkpoint.DeadLetter) string {
	switch {
	case d.Blocked:
		return "parked"
	case d.Retrying():
		return "retrying"
	}
	return "dead"
}

// DeadLetterListView is a page of dead letters.
type DeadLetterListView struct {
	DeadLetters []DeadLetterView `json:"dead_letters"`
	// NextAfter is the after= of the next page, when there may be one.
	NextAfter *int64 `json:"next_after,omitempty"`
}

// DeadLetterActionView is the outcome of a retry or discard.
type DeadLetterActionView struct {
	Subscription string `json:"subscription"`
	ID           int64  `json:"id"`
	Action       string `json:"action"`
	Status       string `json:"status"`
}

// EventView is a stored event.
type EventView struct {
	ID         string          `json:"id"`
	StreamID   string          `json:"stream_id"`
	Version    int64           `json:"version"`
	Type       string          `json:"type"`
	Position   string          `json:"position"`
	RecordedAt string          `json:"recorded_at,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
	Metadata   MetadataView    `json:"metadata"`
}

// MetadataView is an event's metadata.
type MetadataView struct {
	CorrelationID string            `json:"correlation_id,omitempty"`
	CausationID   string            `json:"causation_id,omitempty"`
	TraceParent   string            `json:"traceparent,omitempty"`
	TraceState    string            `json:"tracestate,omitempty"`
	Headers       map[string]string `json:"headers,omitempty"`
}

// NewEventView renders e.
func NewEventView(e eventlog.Event) *EventView {
	return &EventView{ID: e.ID.String(), StreamID: e.StreamID, Version: e.Version, Type: e.Type,
		Position: e.Position.String(), RecordedAt: timestamp(e.RecordedAt), Data: rawJSON(e.Data),
		Metadata: MetadataView{CorrelationID: e.Metadata.CorrelationID, CausationID: e.Metadata.CausationID,
			TraceParent: e.Metadata.TraceParent, TraceState: e.Metadata.TraceState, Headers: e.Metadata.Headers}}
}

// SagaView is a saga instance; History is set when it is shown alone.
type SagaView struct {
	ID             string          `json:"id"`
	Type           string          `json:"type"`
	CorrelationID  string          `json:"correlation_id"`
	Status         saga.Status     `json:"status"`
	Step           int             `json:"step"`
	Attempts       int             `json:"attempts"`
	State          json.RawMessage `json:"state,omitempty"`
	NextAttemptAt  string          `json:"next_attempt_at,omitempty"`
	WaitDeadline   string          `json:"wait_deadline,omitempty"`
	LeaseOwner     string          `json:"lease_owner,omitempty"`
	LeaseExpiresAt string          `json:"lease_expires_at,omitempty"`
	Version        int64           `json:"version"`
	LastError      string          `json:"last_error,omitempty"`
	StartedBy      string          `json:"started_by"`
	CreatedAt      string          `json:"created_at,omitempty"`
	UpdatedAt      string          `json:"updated_at,omitempty"`
	History        []HistoryView   `json:"history,omitempty"`
}

// HistoryView is one step attempt of a saga.
type HistoryView struct {
	Seq     int64        `json:"seq"`
	Step    string       `json:"step"`
	Phase   saga.Phase   `json:"phase"`
	Attempt int          `json:"attempt"`
	Outcome saga.Outcome `json:"outcome"`
	Error   string       `json:"error,omitempty"`
	At      string       `json:"at"`
}

// NewSagaView renders i (without its history).
func NewSagaView(i saga.Instance) SagaView {
	return SagaView{ID: i.ID.String(), Type: i.Type, CorrelationID: i.CorrelationID, Status: i.Status,
		Step: i.Step, Attempts: i.Attempts, State: rawJSON(i.State), NextAttemptAt: timestamp(i.NextAttemptAt),
		WaitDeadline: timestamp(i.WaitDeadline), LeaseOwner: i.LeaseOwner, LeaseExpiresAt: timestamp(i.LeaseExpiresAt),
		Version: i.Version, LastError: i.LastError, StartedBy: i.StartedBy.String(),
		CreatedAt: timestamp(i.CreatedAt), UpdatedAt: timestamp(i.UpdatedAt)}
}

// NewSagaDetailsView renders d with its history.
func NewSagaDetailsView(d saga.Details) SagaView {
	v := NewSagaView(d.Instance)
	v.History = make([]HistoryView, 0, len(d.History))
	for _, h := range d.History {
		v.History = append(v.History, HistoryView{Seq: h.Seq, Step: h.Step, Phase: h.Phase, Attempt: h.Attempt,
			Outcome: h.Outcome, Error: h.Error, At: timestamp(h.At)})
	}
	return v
}

// SagaListView is a page of saga instances.
type SagaListView struct {
	Sagas []SagaView `json:"sagas"`
	// NextAfter is the after= of the next page, when there may be one.
	NextAfter string `json:"next_after,omitempty"`
}

// NewStatusView renders st; registered lists the subscriptions this
// program runs (Ops.Registered).
func NewStatusView(st Status, registered []string) StatusView {
	v := StatusView{Head: st.Head.String(), Horizon: NewHorizonView(st.Horizon),
		Subscriptions: make([]SubscriptionView, 0, len(st.Subscriptions)), Sagas: st.Sagas}
	for _, s := range st.Subscriptions {
		// A build "p#N" is registered with its projection p.
		reg := slices.Contains(registered, s.Name) || slices.Contains(registered, checkpoint.Lineage(s.Name))
		v.Subscriptions = append(v.Subscriptions, NewSubscriptionView(s, reg))
	}
	if v.Sagas == nil {
		v.Sagas = map[string]map[saga.Status]int{}
	}
	v.Builds = NewBuildListView(st.Builds).Builds
	return v
}

// NewDeadLetterListView renders a page of dead letters; more: a next page
// may follow (NextAfter is then the last id).
func NewDeadLetterListView(dls []checkpoint.DeadLetter, more bool) DeadLetterListView {
	v := DeadLetterListView{DeadLetters: make([]DeadLetterView, 0, len(dls))}
	for _, d := range dls {
		v.DeadLetters = append(v.DeadLetters, NewDeadLetterView(d))
	}
	if more && len(dls) > 0 {
		next := dls[len(dls)-1].ID
		v.NextAfter = &next
	}
	return v
}

// NewSagaListView renders a page of saga instances; more: a next page may
// follow (NextAfter is then the last id).
func NewSagaListView(insts []saga.Instance, more bool) SagaListView {
	v := SagaListView{Sagas: make([]SagaView, 0, len(insts))}
	for _, i := range insts {
		v.Sagas = append(v.Sagas, NewSagaView(i))
	}
	if more && len(insts) > 0 {
		v.NextAfter = insts[len(insts)-1].ID.String()
	}
	return v
}

// QueueView is a declared queue with its contents (GET /api/queues,
// queues list --json).
type QueueView struct {
	Name string `json:"name"`
	// Depth counts messages not acked nor dead: ready, delayed and in
	// flight.
	Depth                    int64   `json:"depth"`
	Ready                    int64   `json:"ready"`
	InFlight                 int64   `json:"in_flight"`
	DeadLetters              int64   `json:"dead_letters"`
	OldestReadyAgeSeconds    float64 `json:"oldest_ready_age_seconds"`
	VisibilityTimeoutSeconds float64 `json:"visibility_timeout_seconds"`
	MaxAttempts              int     `json:"max_attempts"`
	RetentionSeconds         float64 `json:"retention_seconds"`
}

// NewQueueView renders q.
func NewQueueView(q Queue) QueueView {
	return QueueView{Name: q.Config.Name, Depth: q.Stats.Depth, Ready: q.Stats.Ready, InFlight: q.Stats.InFlight,
		DeadLetters: q.Stats.Dead, OldestReadyAgeSeconds: q.Stats.OldestReadyAge.Seconds(),
		VisibilityTimeoutSeconds: q.Config.VisibilityTimeout.Seconds(), MaxAttempts: q.Config.MaxAttempts,
		RetentionSeconds: q.Config.Retention.Seconds()}
}

// QueueListView is every declared queue.
type QueueListView struct {
	Queues []QueueView `json:"queues"`
}

// NewQueueListView renders qs.
func NewQueueListView(qs []Queue) QueueListView {
	v := QueueListView{Queues: make([]QueueView, 0, len(qs))}
	for _, q := range qs {
		v.Queues = append(v.Queues, NewQueueView(q))
	}
	return v
}

// QueueDeadLetterView is a message that used up its queue's attempts.
type QueueDeadLetterView struct {
	ID         string            `json:"id"`
	Queue      string            `json:"queue"`
	Payload    json.RawMessage   `json:"payload"`
	Headers    map[string]string `json:"headers,omitempty"`
	Priority   int               `json:"priority"`
	Attempts   int               `json:"attempts"`
	EnqueuedAt string            `json:"enqueued_at,omitempty"`
	DeadAt     string            `json:"dead_at,omitempty"`
	LastError  string            `json:"last_error"`
}

// NewQueueDeadLetterView renders d.
func NewQueueDeadLetterView(d queue.DeadLetter) QueueDeadLetterView {
	return QueueDeadLetterView{ID: d.ID.String(), Queue: d.Queue, Payload: rawJSON(d.Payload), Headers: d.Headers,
		Priority: d.Priority, Attempts: d.Attempts, EnqueuedAt: timestamp(d.EnqueuedAt), DeadAt: timestamp(d.DeadAt),
		LastError: d.LastError}
}

// QueueDeadLetterListView is a page of a queue's dead letters.
type QueueDeadLetterListView struct {
	DeadLetters []QueueDeadLetterView `json:"dead_letters"`
	// NextAfter is the after= of the next page, when there may be one.
	NextAfter string `json:"next_after,omitempty"`
}

// NewQueueDeadLetterListView renders a page of dead letters; more: a next
// page may follow (NextAfter is then the last id).
func NewQueueDeadLetterListView(dls []queue.DeadLetter, more bool) QueueDeadLetterListView {
	v := QueueDeadLetterListView{DeadLetters: make([]QueueDeadLetterView, 0, len(dls))}
	for _, d := range dls {
		v.DeadLetters = append(v.DeadLetters, NewQueueDeadLetterView(d))
	}
	if more && len(dls) > 0 {
		v.NextAfter = dls[len(dls)-1].ID.String()
	}
	return v
}

// QueueDeadLetterActionView is the outcome of a requeue or discard.
type QueueDeadLetterActionView struct {
	Queue  string `json:"queue"`
	ID     string `json:"id"`
	Action string `json:"action"`
	Status string `json:"status"`
}
