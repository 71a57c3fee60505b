package projection

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/worker"
	"github.com/causewayhq/causeway/worker/queue"
)

// ErrNoEffects is returned by Emit and Enqueue when the delivery has no
// way to carry effects out: the projection runs from Subscription rather
// than SubscriptionWith, the EffectsEnv lacks the store needed, the call is
// not made from a handler, or the delivery has no transaction (the memory
// checkpoint store). It is a configuration mistake, so it is permanent.
var ErrNoEffects = errors.New("projection: no effects environment")

// TxAppender appends events in the caller's transaction, as
// eventlog/postgres.Store does.
type TxAppender interface {
	AppendTx(ctx context.Context, tx pgx.Tx, stream string, expected eventlog.ExpectedVersion, events ...eventlog.EventData) (eventlog.AppendResult, error)
}

// TxEnqueuer enqueues messages in the caller's transaction, as
// worker/queue/postgres.Store does.
type TxEnqueuer interface {
	EnqueueTx(ctx context.Context, tx pgx.Tx, queue string, msgs ...queue.Outgoing) ([]queue.Enqueued, error)
}

// EffectsEnv is where a projection's effects go: the event log for Emit,
// the queues for Enqueue, and Causeway's schema, which holds the effects
// held back while a build is not live (table projection_effects). A nil
// Appender or Queues makes Emit or Enqueue return ErrNoEffects.
type EffectsEnv struct {
	Appender TxAppender
	Queues   TxEnqueuer
	Schema   string
}

// effectsMode is how a transaction's effects are carried out.
type effectsMode int

const (
	// effectsLive: at once, in the handler's transaction.
	effectsLive effectsMode = iota + 1
	// effectsBuffered: held back in projection_effects until
	// ReleaseEffects (the build goes live) or PruneEffects/DropEffects.
	effectsBuffered
)

func (m effectsMode) String() string {
	switch m {
	case effectsLive:
		return "live"
	case effectsBuffered:
		return "buffered"
	}
	return "effectsMode(" + strconv.Itoa(int(m)) + ")"
}

// effectsConfig is what a subscription's deliveries need to carry effects
// out. It is the hook between this file and the builds code:
//
//   - env: the stores (nil: Emit and Enqueue return ErrNoEffects).
//   - owner: the subscription the effects belong to — the projection's name,
//     or a build's checkpoint.BuildName(p, N). Held-back effects are keyed by
//     it; derived ids by its checkpoint.Lineage, so every build of a
//     projection derives the same ids for the same effect.
//   - mode: decides, IN the transaction given, whether the transaction's
//     effects run live or are held back (a building build: buffered; a live
//     one: live), e.g. by reading the build's state. nil means live. It is
//     called at most once per transaction (per partition): before the first
//     handler of a transaction runs, the result is cached with the tx and
//     reused for the transaction's other events. A caller that already
//     decides the mode in a worker.BeforeTx hook can pass a mode that looks
//     the decision up by tx instead of querying again. It must return
//     effectsLive or effectsBuffered (anything else fails the delivery); an
//     error fails the delivery like a handler's.
type effectsConfig struct {
	env   *EffectsEnv
	owner string
	mode  func(ctx context.Context, tx pgx.Tx) (effectsMode, error)
}

// SubscriptionWith is Subscription with effects: the handlers may call Emit
// and Enqueue, which run in the handler's transaction through env (live
// mode), so they commit or roll back with the read model and the
// checkpoint. For an unversioned projection; the runtime passes its event
// log and queue stores.
func (p *Projection) SubscriptionWith(env EffectsEnv) (worker.Subscription, error) {
	return p.subscriptionWith(p.name, &effectsConfig{env: &env, owner: p.name})
}

// subscriptionWith builds the worker subscription called name (the
// projection's name, or a build's) whose deliveries carry fx's effects;
// extra options come last (e.g. a build's worker.BeforeTx).
func (p *Projection) subscriptionWith(name string, fx *effectsConfig, extra ...worker.SubscriptionOption) (worker.Subscription, error) {
	if err := p.Err(); err != nil {
		return worker.Subscription{}, err
	}
	opts := append([]worker.SubscriptionOption{worker.Filter(p.Filter()), worker.Mode(worker.Transactional)}, p.wopts...)
	opts = append(opts, extra...)
	return worker.NewSubscription(name, append(opts, worker.OnAny(p.handlerWith(fx)))...), nil
}

// handlerWith is the projection's handler with fx's effects in the
// handlers' context (nil fx: as Subscription's handler, without effects).
func (p *Projection) handlerWith(fx *effectsConfig) worker.Handler {
	if fx == nil {
		return p.handle
	}
	modes := &txModes{byPartition: map[int]txMode{}}
	return func(ctx context.Context, d *worker.Delivery) error {
		h, ok := p.handlers[d.Event.Type]
		if !ok {
			p.skipped.Add(1)
			return nil
		}
		fd := &effectsDelivery{fx: fx, tx: d.Tx, source: d.Event, mode: effectsLive}
		if fx.mode != nil && d.Tx != nil {
			m, err := modes.get(ctx, d.Partition, d.Tx, fx.mode)
			if err != nil {
				return fmt.Errorf("projection %s: %w", p.name, err)
			}
			fd.mode = m
		}
		p.handled.Add(1)
		return h(context.WithValue(ctx, effectsKey{}, fd), d.Tx, d.Event)
	}
}

// txModes caches each partition's mode with the transaction it was decided
// in: a partition's events are handled one transaction at a time, so a new
// tx means a new decision. Holding the old tx keeps its pointer from being
// reused by a later one.
type txModes struct {
	mu          sync.Mutex
	byPartition map[int]txMode
}

type txMode struct {
	tx   pgx.Tx
	mode effectsMode
}

func (c *txModes) get(ctx context.Context, partition int, tx pgx.Tx, decide func(context.Context, pgx.Tx) (effectsMode, error)) (effectsMode, error) {
	c.mu.Lock()
	m, ok := c.byPartition[partition]
	c.mu.Unlock()
	if ok && m.tx == tx {
		return m.mode, nil
	}
	mode, err := decide(ctx, tx)
	if err != nil {
		return 0, fmt.Errorf("effects mode: %w", err)
	}
	if mode != effectsLive && mode != effectsBuffered {
		return 0, fmt.Errorf("effects mode: unknown %v", mode)
	}
	c.mu.Lock()
	c.byPartition[partition] = txMode{tx: tx, mode: mode}
	c.mu.Unlock()
	return mode, nil
}

type effectsKey struct{}

// effectsDelivery is one delivery's effects state, in its handler's
// context. The counters number the delivery's effects, for derived ids and
// the order of held-back ones; they start over when the event is handled
// again (a retry, a replay), so the same effect gets the same id.
type effectsDelivery struct {
	fx     *effectsConfig
	tx     pgx.Tx
	source eventlog.Event
	mode   effectsMode
	calls  int // Emit and Enqueue calls
	events int // events emitted
	msgs   int // messages enqueued
}

func effectsOf(ctx context.Context, op string) (*effectsDelivery, error) {
	fd, _ := ctx.Value(effectsKey{}).(*effectsDelivery)
	switch {
	case fd == nil:
		return nil, worker.Permanent(fmt.Errorf("%w: %s outside a handler of a projection run with effects (SubscriptionWith)", ErrNoEffects, op))
	case fd.fx.env == nil:
		return nil, worker.Permanent(fmt.Errorf("%w: %s: projection %s has no EffectsEnv", ErrNoEffects, op, fd.fx.owner))
	case fd.tx == nil:
		return nil, worker.Permanent(fmt.Errorf("%w: %s: the delivery has no transaction (memory checkpoint store?)", ErrNoEffects, op))
	}
	return fd, nil
}

// Rebuilding reports whether the effects of the delivery whose context ctx
// is are held back: its projection build is not live yet. Handlers may
// skip work that only matters for effects. False outside a handler.
func Rebuilding(ctx context.Context) bool {
	fd, _ := ctx.Value(effectsKey{}).(*effectsDelivery)
	return fd != nil && fd.mode == effectsBuffered
}

// Emit appends events to stream (expected version: any) as an effect of
// the event being handled; call it from a handler with the handler's ctx.
// Live, they are appended in the handler's transaction: committed with the
// read model and the checkpoint, or not at all. While the projection's
// build is not live (see Rebuilding), they are held back and appended when
// it goes live, if their source event is one the previous live build had
// not handled yet (ReleaseEffects).
//
// An event without an id gets one derived from the projection (its
// lineage, so every build derives the same), the source event's id and
// its index among the delivery's emitted events: handling the event again
// — a retry, a replay, another build — appends nothing new (the log
// reports a duplicate). Events are validated as an append would; a refusal
// fails the delivery. No wake-up hint is sent (the commit is the worker's):
// tailers find the events at their next poll or another append's hint.
func Emit(ctx context.Context, stream string, events ...eventlog.EventData) error {
	fd, err := effectsOf(ctx, "Emit")
	if err != nil {
		return err
	}
	if len(events) == 0 {
		return nil
	}
	evs := slices.Clone(events)
	lineage := checkpoint.Lineage(fd.fx.owner)
	for i := range evs {
		if evs[i].ID == uuid.Nil {
			evs[i].ID = derivedID(lineage, "event", fd.source.ID, fd.events+i)
		}
	}
	fd.events += len(evs)
	fd.calls++
	switch fd.mode {
	case effectsBuffered:
		if _, err := eventlog.Prepare(stream, evs, 0, uuid.New); err != nil {
			return fmt.Errorf("projection %s: emit: %w", fd.fx.owner, err)
		}
		return holdEmit(ctx, fd, stream, evs)
	default:
		if fd.fx.env.Appender == nil {
			return worker.Permanent(fmt.Errorf("%w: Emit: projection %s has no event log (EffectsEnv.Appender)", ErrNoEffects, fd.fx.owner))
		}
		if err := appendIdempotent(ctx, fd.tx, fd.fx.env.Appender, stream, evs); err != nil {
			return fmt.Errorf("projection %s: emit to %q: %w", fd.fx.owner, stream, err)
		}
		return nil
	}
}

// Enqueue enqueues msgs on the named queue as an effect of the event being
// handled, like Emit: live in the handler's transaction, held back while
// the build is not live (a held-back message's Delay counts from its
// release).
//
// A message without a deduplication key gets one derived like Emit's ids,
// so handling the event again within the queue's default deduplication
// window (queue.DefaultDedupWindow) enqueues nothing new. The message id is
// left to the store unless set: a derived id would turn a repeat after the
// window into a refusal ("message id already stored") instead.
func Enqueue(ctx context.Context, queueName string, msgs ...queue.Outgoing) error {
	fd, err := effectsOf(ctx, "Enqueue")
	if err != nil {
		return err
	}
	if len(msgs) == 0 {
		return nil
	}
	ms := slices.Clone(msgs)
	lineage := checkpoint.Lineage(fd.fx.owner)
	for i := range ms {
		if ms[i].DedupKey == "" {
			ms[i].DedupKey = "causeway.projection:" + derivedID(lineage, "message", fd.source.ID, fd.msgs+i).String()
		}
	}
	fd.msgs += len(ms)
	fd.calls++
	switch fd.mode {
	case effectsBuffered:
		if _, err := queue.Prepare(queueName, ms); err != nil {
			return fmt.Errorf("projection %s: enqueue: %w", fd.fx.owner, err)
		}
		return holdEnqueue(ctx, fd, queueName, ms)
	default:
		if fd.fx.env.Queues == nil {
			return worker.Permanent(fmt.Errorf("%w: Enqueue: projection %s has no queue store (EffectsEnv.Queues)", ErrNoEffects, fd.fx.owner))
		}
		if _, err := fd.fx.env.Queues.EnqueueTx(ctx, fd.tx, queueName, ms...); err != nil {
			return fmt.Errorf("projection %s: enqueue to %q: %w", fd.fx.owner, queueName, err)
		}
		return nil
	}
}

// effectsNamespace is the UUID namespace of derived effect ids.
var effectsNamespace = uuid.MustParse("5b0c8e4e-7d2a-4f61-9a1e-3c6f2d8b9e47")

// derivedID is the id of a delivery's index-th effect of a kind: the same
// for every build of the projection (lineage) and every handling of the
// source event.
func derivedID(lineage, kind string, source uuid.UUID, index int) uuid.UUID {
	return uuid.NewSHA1(effectsNamespace, []byte(lineage+"\x00"+kind+"\x00"+source.String()+"\x00"+strconv.Itoa(index)))
}

// appendIdempotent appends events; when some of their ids are stored
// already (the effect happened before, perhaps in part: an older build
// emitted fewer events for the source event), it appends them one by one,
// so the stored ones report a duplicate and the others are appended.
func appendIdempotent(ctx context.Context, tx pgx.Tx, app TxAppender, stream string, evs []eventlog.EventData) error {
	_, err := app.AppendTx(ctx, tx, stream, eventlog.Any, evs...)
	if err == nil || len(evs) == 1 || !errors.Is(err, eventlog.ErrDuplicateEventID) {
		return err
	}
	for _, e := range evs {
		if _, ferr := app.AppendTx(ctx, tx, stream, eventlog.Any, e); ferr != nil {
			// Both: a unique violation of a concurrent append aborted tx,
			// and the one-by-one append only says so.
			return errors.Join(err, ferr)
		}
	}
	return nil
}
