package saga

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/worker"
)

// StepContext is what a step sees. State points at the saga's state: change
// it and the change is saved with the step's completion (and discarded if
// the step fails).
type StepContext[S any] struct {
	SagaID        uuid.UUID
	CorrelationID string
	Step          string
	Attempt       int
	// IdempotencyKey is the same on every attempt of this step (and
	// differs between its action and its compensation): pass it to the
	// systems the step calls so a re-run after a crash is harmless.
	IdempotencyKey string
	State          *S
	emits          []Emit
}

// Emit queues events to append when the step's outcome is recorded, in the
// same transaction as the saga's new state — so projections can show saga
// progress exactly as it is stored. A failed step emits nothing.
func (c *StepContext[S]) Emit(streamID string, expected eventlog.ExpectedVersion, events ...eventlog.EventData) {
	c.emits = append(c.emits, Emit{StreamID: streamID, Expected: expected, Events: events})
}

// Emit is a queued append.
type Emit struct {
	StreamID string
	Expected eventlog.ExpectedVersion
	Events   []eventlog.EventData
}

// StepFunc is a step's action or compensation.
type StepFunc[S any] func(ctx context.Context, sc *StepContext[S]) error

// StepOptions configure a step.
type StepOptions[S any] struct {
	// Compensate undoes the action; steps without one are skipped when
	// compensating.
	Compensate StepFunc[S]
	// Retry is the action's retry policy (default worker.DefaultRetryPolicy);
	// CompensateRetry the compensation's (default: 10 attempts).
	Retry           worker.RetryPolicy
	CompensateRetry worker.RetryPolicy
	// Timeout bounds one attempt (default DefaultStepTimeout).
	Timeout time.Duration
}

// DefaultStepTimeout bounds one attempt of a step.
const DefaultStepTimeout = 30 * time.Second

// defaultCompensateRetry tries harder than actions: compensations must
// eventually succeed or need an operator.
var defaultCompensateRetry = worker.RetryPolicy{MaxAttempts: 10, InitialBackoff: 200 * time.Millisecond, MaxBackoff: 30 * time.Second, JitterPercent: 20}

type stepDef[S any] struct {
	name       string
	action     StepFunc[S]
	compensate StepFunc[S]
	retry      worker.RetryPolicy
	compRetry  worker.RetryPolicy
	timeout    time.Duration
	// wait steps
	waitType  string
	onEvent   func(ctx context.Context, sc *StepContext[S], e eventlog.Event) error
	correlate func(e eventlog.Event) (string, error)
}

// Definition declares a saga type with state S. Build it with New, StartOn,
// Step and WaitFor, then give it to an Executor and a Runtime; no global
// registry is involved.
type Definition[S any] struct {
	name   string
	starts map[string]func(e eventlog.Event) (string, S, error)
	steps  []stepDef[S]
	errs   []error
}

// New declares a saga type. The name identifies its instances in storage;
// it must be valid under ValidateName.
func New[S any](name string) *Definition[S] {
	d := &Definition[S]{name: name, starts: map[string]func(eventlog.Event) (string, S, error){}}
	if err := ValidateName(name); err != nil {
		d.errs = append(d.errs, err)
	}
	return d
}

// MaxNameLen is the longest saga name: the saga's subscription is named
// SubscriptionName(name), "saga:" + name, and subscription names are at most
// 128 bytes (checkpoint.ValidateName).
const MaxNameLen = 128 - len(subscriptionPrefix)

// ErrInvalidName matches a saga name refused by ValidateName (and so does
// checkpoint.ErrInvalidName).
var ErrInvalidName = errors.New("saga: invalid name")

// ValidateName checks a saga name: 1–MaxNameLen letters, digits and
// _ . : -, starting with a letter — so the subscription derived from it is
// valid too, and a name is refused where it is declared rather than when
// the saga starts.
func ValidateName(name string) error {
	if len(name) > MaxNameLen {
		return fmt.Errorf("%w %q: %d bytes, at most %d (its subscription %q must be a valid subscription name): %w",
			ErrInvalidName, name, len(name), MaxNameLen, SubscriptionName(name), checkpoint.ErrInvalidName)
	}
	if err := checkpoint.ValidateName(name); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidName, err)
	}
	return nil
}

// StartOn makes events of eventType start an instance. start decodes nothing
// itself: it gets the event's data decoded into E and returns the
// correlation id (one instance per id, ever) and the initial state.
func StartOn[S, E any](d *Definition[S], eventType string, start func(e eventlog.Event, v E) (correlationID string, state S, err error)) {
	if err := eventlog.ValidateEventType(eventType); err != nil {
		d.errs = append(d.errs, fmt.Errorf("saga %s: start on %q: %w", d.name, eventType, err))
		return
	}
	if _, dup := d.starts[eventType]; dup || start == nil {
		d.errs = append(d.errs, fmt.Errorf("saga %s: start on %q declared twice or nil", d.name, eventType))
		return
	}
	d.starts[eventType] = func(e eventlog.Event) (string, S, error) {
		var v E
		if err := json.Unmarshal(e.Data, &v); err != nil {
			var zero S
			return "", zero, worker.Permanent(fmt.Errorf("saga %s: decode %s event %s: %w", d.name, e.Type, e.ID, err))
		}
		return start(e, v)
	}
}

// Step appends a step.
func (d *Definition[S]) Step(name string, action StepFunc[S], opts StepOptions[S]) *Definition[S] {
	if action == nil {
		d.errs = append(d.errs, fmt.Errorf("saga %s: step %q has no action", d.name, name))
		return d
	}
	d.addStep(stepDef[S]{name: name, action: action, compensate: opts.Compensate,
		retry: opts.Retry, compRetry: opts.CompensateRetry, timeout: opts.Timeout})
	return d
}

// WaitFor appends a step that waits for an event of eventType whose
// correlate gives this instance's correlation id. onEvent (optional) may
// update the state from it. If no such event arrives within timeout of the
// saga reaching the step, the step fails and the saga compensates. The
// timeout is durable: it fires even if every process restarted meanwhile.
// An event that arrives before the saga reaches the step is kept for it.
func WaitFor[S, E any](d *Definition[S], name, eventType string, timeout time.Duration,
	correlate func(e eventlog.Event, v E) string, onEvent func(ctx context.Context, sc *StepContext[S], e eventlog.Event, v E) error) {
	if err := eventlog.ValidateEventType(eventType); err != nil || correlate == nil || timeout <= 0 {
		d.errs = append(d.errs, fmt.Errorf("saga %s: wait %q: needs a valid event type, a correlate function and a timeout", d.name, name))
		return
	}
	decode := func(e eventlog.Event) (E, error) {
		var v E
		if err := json.Unmarshal(e.Data, &v); err != nil {
			return v, worker.Permanent(fmt.Errorf("saga %s: decode %s event %s: %w", d.name, e.Type, e.ID, err))
		}
		return v, nil
	}
	d.addStep(stepDef[S]{
		name: name, waitType: eventType, timeout: timeout,
		correlate: func(e eventlog.Event) (string, error) {
			v, err := decode(e)
			if err != nil {
				return "", err
			}
			return correlate(e, v), nil
		},
		onEvent: func(ctx context.Context, sc *StepContext[S], e eventlog.Event) error {
			if onEvent == nil {
				return nil
			}
			v, err := decode(e)
			if err != nil {
				return err
			}
			return onEvent(ctx, sc, e, v)
		},
	})
}

func (d *Definition[S]) addStep(s stepDef[S]) {
	if s.name == "" || len(s.name) > 128 || validateText(s.name) != nil {
		d.errs = append(d.errs, fmt.Errorf("saga %s: step %q: step names must be 1–128 bytes of UTF-8 without NUL", d.name, s.name))
		return
	}
	for _, x := range d.steps {
		if x.name == s.name {
			d.errs = append(d.errs, fmt.Errorf("saga %s: two steps named %q", d.name, s.name))
			return
		}
	}
	if s.timeout <= 0 {
		s.timeout = DefaultStepTimeout
	}
	if s.retry == (worker.RetryPolicy{}) {
		s.retry = worker.DefaultRetryPolicy
	}
	if s.compRetry == (worker.RetryPolicy{}) {
		s.compRetry = defaultCompensateRetry
	}
	d.steps = append(d.steps, s)
}

// Name returns the saga type's name.
func (d *Definition[S]) Name() string { return d.name }

// Err reports declaration mistakes.
func (d *Definition[S]) Err() error {
	errs := d.errs
	if len(d.starts) == 0 {
		errs = append(errs, fmt.Errorf("saga %s: no start event (StartOn)", d.name))
	}
	if len(d.steps) == 0 {
		errs = append(errs, fmt.Errorf("saga %s: no steps", d.name))
	}
	return errors.Join(errs...)
}

// Saga is a definition of any state type; *Definition[S] implements it.
type Saga interface {
	Name() string
	Err() error
	steps_() []stepInfo
	startTypes() []string
	start(e eventlog.Event) (corr string, state json.RawMessage, err error)
	correlate(step int, e eventlog.Event) (string, error)
	run(ctx context.Context, inst *Instance, step int, compensate bool, attempt int, event *eventlog.Event) (json.RawMessage, []Emit, error)
}

// stepInfo is what the state machine needs to know of a step.
type stepInfo struct {
	name            string
	wait            string // event type, for wait steps
	hasCompensation bool
	retry           worker.RetryPolicy
	compRetry       worker.RetryPolicy
	timeout         time.Duration
}

func (d *Definition[S]) steps_() []stepInfo {
	out := make([]stepInfo, len(d.steps))
	for i, s := range d.steps {
		out[i] = stepInfo{name: s.name, wait: s.waitType, hasCompensation: s.compensate != nil,
			retry: s.retry, compRetry: s.compRetry, timeout: s.timeout}
	}
	return out
}

func (d *Definition[S]) startTypes() []string {
	var out []string
	for t := range d.starts {
		out = append(out, t)
	}
	return out
}

func (d *Definition[S]) start(e eventlog.Event) (string, json.RawMessage, error) {
	fn, ok := d.starts[e.Type]
	if !ok {
		return "", nil, fmt.Errorf("saga %s: %s does not start it", d.name, e.Type)
	}
	corr, state, err := fn(e)
	if err != nil {
		return "", nil, err
	}
	if corr == "" {
		return "", nil, worker.Permanent(fmt.Errorf("saga %s: empty correlation id from %s event %s", d.name, e.Type, e.ID))
	}
	if err := validateCorrelationID(corr); err != nil {
		return "", nil, worker.Permanent(fmt.Errorf("saga %s: from %s event %s: %w", d.name, e.Type, e.ID, err))
	}
	b, err := d.encode(state)
	if err != nil {
		return "", nil, err
	}
	return corr, b, nil
}

// encode marshals a state as it will be stored: a state that cannot be
// (json.Marshal fails, or PostgreSQL's jsonb would refuse it) is a
// permanent error — retrying cannot change it.
func (d *Definition[S]) encode(state S) (json.RawMessage, error) {
	b, err := json.Marshal(state)
	if err != nil {
		return nil, worker.Permanent(fmt.Errorf("saga %s: encode state: %w", d.name, err))
	}
	if err := eventlog.ValidateJSON(b); err != nil {
		return nil, worker.Permanent(fmt.Errorf("saga %s: state cannot be stored: %w", d.name, err))
	}
	return b, nil
}

func (d *Definition[S]) correlate(step int, e eventlog.Event) (string, error) {
	return d.steps[step].correlate(e)
}

// run executes one attempt of a step's action (or compensation, or a wait
// step's onEvent with the received event) on a copy of the state, returning
// the new state and the queued emits.
func (d *Definition[S]) run(ctx context.Context, inst *Instance, step int, compensate bool, attempt int, event *eventlog.Event) (json.RawMessage, []Emit, error) {
	var state S
	if err := json.Unmarshal(inst.State, &state); err != nil {
		return nil, nil, worker.Permanent(fmt.Errorf("saga %s %s: decode state: %w", d.name, inst.ID, err))
	}
	s := d.steps[step]
	sc := &StepContext[S]{SagaID: inst.ID, CorrelationID: inst.CorrelationID, Step: s.name,
		Attempt: attempt, IdempotencyKey: IdempotencyKey(inst.ID, s.name, compensate), State: &state}
	var err error
	switch {
	case compensate:
		err = s.compensate(ctx, sc)
	case s.waitType != "":
		err = s.onEvent(ctx, sc, *event)
	default:
		err = s.action(ctx, sc)
	}
	if err != nil {
		return nil, nil, err
	}
	b, err := d.encode(state)
	if err != nil {
		return nil, nil, err
	}
	return b, sc.emits, nil
}

// IdempotencyKey is a step's key: the same on every attempt.
func IdempotencyKey(id uuid.UUID, step string, compensate bool) string {
	if compensate {
		return id.String() + "/" + step + "/compensate"
	}
	return id.String() + "/" + step
}
