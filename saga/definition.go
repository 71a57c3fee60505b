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
	// fx collects the step's Emit and Enqueue calls (see effects.go).
	fx Effects
}

// StepFunc is a step's action or compensation.
type StepFunc[S any] func(ctx context.Context, sc *StepContext[S]) error

// DefaultStepTimeout bounds one attempt of a step.
const DefaultStepTimeout = 30 * time.Second

// DefaultWaitTimeout is how long a WaitFor step waits unless Timeout says
// otherwise.
const DefaultWaitTimeout = 24 * time.Hour

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
	correlate func(ctx context.Context, e eventlog.Event) (string, error)
}

// Definition declares a saga type with state S. Build it with New and
// options (StartOn, Step, WaitFor), then give it to an Executor and a
// Runtime; no global registry is involved.
type Definition[S any] struct {
	name       string
	starts     map[string]func(ctx context.Context, e eventlog.Event) (string, S, error)
	steps      []stepDef[S]
	partitions int
	errs       []error
}

// New declares a saga type with state S:
//
//	d := saga.New[Fulfilment]("order_fulfilment",
//		saga.StartOn(func(ctx context.Context, e eventlog.Envelope[OrderPlaced]) (saga.Start[Fulfilment], error) {
//			return saga.Start[Fulfilment]{CorrelationID: e.Data.OrderID, State: Fulfilment{Order: e.Data}}, nil
//		}),
//		saga.Step("reserve", reserve, saga.Compensate(release), saga.Retry(policy)),
//		saga.WaitFor("paid", correlate, saga.Timeout(time.Hour), saga.OnEvent(recordPayment)),
//	)
//
// The name identifies its instances in storage; it must be valid under
// ValidateName. Options are checked here: mistakes (a function written for
// another state type, a Go type without an event type name, two steps of
// one name) are reported by Err.
func New[S any](name string, opts ...Option) *Definition[S] {
	d := &Definition[S]{name: name, starts: map[string]func(context.Context, eventlog.Event) (string, S, error){}}
	if err := ValidateName(name); err != nil {
		d.errs = append(d.errs, err)
	}
	var state S
	for _, o := range opts {
		if err := o(&declaration{def: d, name: name, state: state}); err != nil {
			d.errs = append(d.errs, fmt.Errorf("saga %s: %w", name, err))
		}
	}
	return d
}

// declaration is what an Option sees: the *Definition[S] under
// construction, as any, since options are not generic over S (so that
// options with no S in their arguments, like Retry or Timeout, need no
// type argument).
type declaration struct {
	def   any
	name  string
	state any // a zero S, to name the type in errors
}

// Option declares part of a saga.
type Option func(*declaration) error

func wrongState(what string, want, got any) error {
	return fmt.Errorf("%s is written for state %T, the saga's state is %T", what, want, got)
}

// Start is what a start function returns: the instance's correlation id
// (one instance per id, ever) and its initial state.
type Start[S any] struct {
	CorrelationID string
	State         S
}

// StartOn makes events of E's declared type (its EventType method; see
// eventlog.Named) start an instance: fn gets the event decoded and returns
// the correlation id and the initial state.
func StartOn[S, E any](fn func(ctx context.Context, e eventlog.Envelope[E]) (Start[S], error)) Option {
	return func(dc *declaration) error {
		name, err := eventlog.TypeName[E]()
		if err != nil {
			return fmt.Errorf("start: %w", err)
		}
		return startOn(dc, name, fn)
	}
}

// StartOnType is StartOn for an event type named at run time (the string
// form). E may declare no name; one that declares another is refused
// (eventlog.ErrTypeMismatch).
func StartOnType[S, E any](eventType string, fn func(ctx context.Context, e eventlog.Envelope[E]) (Start[S], error)) Option {
	return func(dc *declaration) error {
		if err := eventlog.CheckTypeName[E](eventType); err != nil {
			return fmt.Errorf("start on %q: %w", eventType, err)
		}
		return startOn(dc, eventType, fn)
	}
}

func startOn[S, E any](dc *declaration, eventType string, fn func(context.Context, eventlog.Envelope[E]) (Start[S], error)) error {
	d, ok := dc.def.(*Definition[S])
	if !ok {
		var s S
		return wrongState("StartOn "+eventType, s, dc.state)
	}
	if _, dup := d.starts[eventType]; dup || fn == nil {
		return fmt.Errorf("start on %q declared twice or nil", eventType)
	}
	d.starts[eventType] = func(ctx context.Context, e eventlog.Event) (string, S, error) {
		env, err := eventlog.Decode[E](e)
		if err != nil {
			var zero S
			return "", zero, worker.Permanent(fmt.Errorf("saga %s: %w", d.name, err))
		}
		st, err := fn(ctx, env)
		return st.CorrelationID, st.State, err
	}
	return nil
}

// Partitions is the partition count of the saga's subscription (the one
// that starts instances and files awaited events), fixed when it is first
// registered (default worker.DefaultPartitions).
func Partitions(n int) Option {
	return func(dc *declaration) error {
		if n < 0 {
			return fmt.Errorf("partitions %d", n)
		}
		setPartitions(dc.def, n)
		return nil
	}
}

// StepOption sets an optional part of a step (Step or WaitFor).
type StepOption func(*stepDecl)

// stepDecl collects a step's options; typed parts are held as any and
// checked against the saga's state by Step or WaitFor.
type stepDecl struct {
	compensate  any // StepFunc[S]
	onEvent     any // func(ctx, *StepContext[S], eventlog.Event) error
	onEventType string
	retry       worker.RetryPolicy
	compRetry   worker.RetryPolicy
	timeout     time.Duration
	errs        []error
}

// Compensate undoes the step's action; steps without one are skipped when
// compensating. Not for WaitFor.
func Compensate[S any](fn StepFunc[S]) StepOption {
	return func(sd *stepDecl) {
		if fn == nil {
			sd.errs = append(sd.errs, errors.New("nil compensation"))
			return
		}
		sd.compensate = fn
	}
}

// Retry is the action's retry policy (default DefaultRetryPolicy).
func Retry(p RetryPolicy) StepOption { return func(sd *stepDecl) { sd.retry = p } }

// CompensateRetry is the compensation's retry policy (default: 10
// attempts, backing off to 30 s).
func CompensateRetry(p RetryPolicy) StepOption { return func(sd *stepDecl) { sd.compRetry = p } }

// Timeout bounds one attempt of a step (default DefaultStepTimeout), or how
// long a WaitFor step waits (default DefaultWaitTimeout).
func Timeout(d time.Duration) StepOption { return func(sd *stepDecl) { sd.timeout = d } }

// OnEvent lets a WaitFor step update the state from the event it received.
// E must be the WaitFor's event type.
func OnEvent[S, E any](fn func(ctx context.Context, sc *StepContext[S], e eventlog.Envelope[E]) error) StepOption {
	return func(sd *stepDecl) {
		if fn == nil {
			sd.errs = append(sd.errs, errors.New("nil OnEvent"))
			return
		}
		sd.onEventType, _ = eventlog.TypeName[E]()
		sd.onEvent = func(ctx context.Context, sc *StepContext[S], e eventlog.Event) error {
			env, err := eventlog.Decode[E](e)
			if err != nil {
				return worker.Permanent(err)
			}
			return fn(ctx, sc, env)
		}
	}
}

func stepOptions(opts []StepOption) (stepDecl, error) {
	var sd stepDecl
	for _, o := range opts {
		o(&sd)
	}
	return sd, errors.Join(sd.errs...)
}

// Step appends a step: an action with optional compensation, retry policy
// and timeout.
func Step[S any](name string, action StepFunc[S], opts ...StepOption) Option {
	return func(dc *declaration) error {
		d, ok := dc.def.(*Definition[S])
		if !ok {
			var s S
			return wrongState("step "+name, s, dc.state)
		}
		if action == nil {
			return fmt.Errorf("step %q has no action", name)
		}
		sd, err := stepOptions(opts)
		if err != nil {
			return fmt.Errorf("step %q: %w", name, err)
		}
		if sd.onEvent != nil {
			return fmt.Errorf("step %q: OnEvent is for WaitFor steps", name)
		}
		var comp StepFunc[S]
		if sd.compensate != nil {
			if comp, ok = sd.compensate.(StepFunc[S]); !ok {
				return wrongState(fmt.Sprintf("step %q's compensation", name), comp, dc.state)
			}
		}
		return d.addStep(stepDef[S]{name: name, action: action, compensate: comp,
			retry: sd.retry, compRetry: sd.compRetry, timeout: sd.timeout})
	}
}

// WaitFor appends a step that waits for an event of E's declared type whose
// correlate gives this instance's correlation id ("" when the event is for
// no instance). OnEvent may update the state from it. If no such event
// arrives within the step's Timeout of the saga reaching it, the step fails
// and the saga compensates. The timeout is durable: it fires even if every
// process restarted meanwhile. An event that arrives before the saga
// reaches the step is kept for it.
func WaitFor[E any](name string, correlate func(ctx context.Context, e eventlog.Envelope[E]) (string, error), opts ...StepOption) Option {
	return func(dc *declaration) error {
		eventType, err := eventlog.TypeName[E]()
		if err != nil {
			return fmt.Errorf("wait %q: %w", name, err)
		}
		return waitFor(dc, name, eventType, correlate, opts)
	}
}

// WaitForType is WaitFor for an event type named at run time (the string
// form). E may declare no name; one that declares another is refused
// (eventlog.ErrTypeMismatch).
func WaitForType[E any](name, eventType string, correlate func(ctx context.Context, e eventlog.Envelope[E]) (string, error), opts ...StepOption) Option {
	return func(dc *declaration) error {
		if err := eventlog.CheckTypeName[E](eventType); err != nil {
			return fmt.Errorf("wait %q: %w", name, err)
		}
		return waitFor(dc, name, eventType, correlate, opts)
	}
}

func waitFor[E any](dc *declaration, name, eventType string, correlate func(context.Context, eventlog.Envelope[E]) (string, error), opts []StepOption) error {
	if correlate == nil {
		return fmt.Errorf("wait %q: no correlate function", name)
	}
	sd, err := stepOptions(opts)
	if err != nil {
		return fmt.Errorf("wait %q: %w", name, err)
	}
	if sd.compensate != nil {
		return fmt.Errorf("wait %q: a wait has nothing to compensate", name)
	}
	if sd.onEventType != "" && sd.onEventType != eventType {
		return fmt.Errorf("wait %q: %w: OnEvent takes %q, the wait is for %q", name, eventlog.ErrTypeMismatch, sd.onEventType, eventType)
	}
	if sd.timeout <= 0 {
		sd.timeout = DefaultWaitTimeout
	}
	return addWait(dc, waitDecl{name: name, eventType: eventType, sd: sd,
		correlate: func(ctx context.Context, e eventlog.Event) (string, error) {
			env, err := eventlog.Decode[E](e)
			if err != nil {
				return "", worker.Permanent(err)
			}
			return correlate(ctx, env)
		}})
}

// waitDecl is a wait step before it meets the saga's state type.
type waitDecl struct {
	name, eventType string
	sd              stepDecl
	correlate       func(context.Context, eventlog.Event) (string, error)
}

// waitAdder and partitionSetter let untyped options reach a *Definition[S].
type waitAdder interface {
	addWait(w waitDecl, state any) error
}

type partitionSetter interface{ setPartitions(n int) }

func addWait(dc *declaration, w waitDecl) error { return dc.def.(waitAdder).addWait(w, dc.state) }

func setPartitions(def any, n int) { def.(partitionSetter).setPartitions(n) }

func (d *Definition[S]) setPartitions(n int) { d.partitions = n }

func (d *Definition[S]) addWait(w waitDecl, state any) error {
	s := stepDef[S]{name: w.name, waitType: w.eventType, timeout: w.sd.timeout, correlate: w.correlate,
		onEvent: func(context.Context, *StepContext[S], eventlog.Event) error { return nil }}
	if w.sd.onEvent != nil {
		fn, ok := w.sd.onEvent.(func(context.Context, *StepContext[S], eventlog.Event) error)
		if !ok {
			var want *StepContext[S]
			return wrongState(fmt.Sprintf("wait %q's OnEvent", w.name), want, state)
		}
		s.onEvent = fn
	}
	return d.addStep(s)
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
	if err := checkpoint.ValidateBaseName(name); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidName, err)
	}
	return nil
}

func (d *Definition[S]) addStep(s stepDef[S]) error {
	if s.name == "" || len(s.name) > 128 || validateText(s.name) != nil {
		return fmt.Errorf("step %q: step names must be 1–128 bytes of UTF-8 without NUL", s.name)
	}
	for _, x := range d.steps {
		if x.name == s.name {
			return fmt.Errorf("two steps named %q", s.name)
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
	return nil
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
	start(ctx context.Context, e eventlog.Event) (corr string, state json.RawMessage, err error)
	correlate(ctx context.Context, step int, e eventlog.Event) (string, error)
	subscriptionPartitions() int
	run(ctx context.Context, inst *Instance, step int, compensate bool, attempt int, event *eventlog.Event) (json.RawMessage, Effects, error)
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

func (d *Definition[S]) subscriptionPartitions() int { return d.partitions }

func (d *Definition[S]) start(ctx context.Context, e eventlog.Event) (string, json.RawMessage, error) {
	fn, ok := d.starts[e.Type]
	if !ok {
		return "", nil, fmt.Errorf("saga %s: %s does not start it", d.name, e.Type)
	}
	corr, state, err := fn(ctx, e)
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

func (d *Definition[S]) correlate(ctx context.Context, step int, e eventlog.Event) (string, error) {
	return d.steps[step].correlate(ctx, e)
}

// run executes one attempt of a step's action (or compensation, or a wait
// step's onEvent with the received event) on a copy of the state, returning
// the new state and the effects the step queued (emits, enqueues).
func (d *Definition[S]) run(ctx context.Context, inst *Instance, step int, compensate bool, attempt int, event *eventlog.Event) (json.RawMessage, Effects, error) {
	var state S
	if err := json.Unmarshal(inst.State, &state); err != nil {
		return nil, Effects{}, worker.Permanent(fmt.Errorf("saga %s %s: decode state: %w", d.name, inst.ID, err))
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
		return nil, Effects{}, err
	}
	b, err := d.encode(state)
	if err != nil {
		return nil, Effects{}, err
	}
	return b, sc.fx, nil
}

// IdempotencyKey is a step's key: the same on every attempt.
func IdempotencyKey(id uuid.UUID, step string, compensate bool) string {
	if compensate {
		return id.String() + "/" + step + "/compensate"
	}
	return id.String() + "/" + step
}
