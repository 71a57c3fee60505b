// Package memory is an in-memory queue.Store for tests and single-process
// use. Its time comes from a worker.Clock, so a test can move time instead
// of waiting for visibility timeouts and delays.
package memory

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/worker"
	"github.com/causewayhq/causeway/worker/queue"
)

// Store is the memory store. It is safe for concurrent use.
type Store struct {
	clock worker.Clock

	mu     sync.Mutex
	seq    int64
	queues map[string]*q
	byRcpt map[queue.Receipt]*msg
	subs   map[string]map[chan struct{}]struct{} // by queue
}

type q struct {
	cfg   queue.Config
	msgs  map[uuid.UUID]*msg
	dead  map[uuid.UUID]*queue.DeadLetter
	dedup map[string]dedup
}

type dedup struct {
	id      uuid.UUID
	expires time.Time
}

type msg struct {
	queue.Message
	seq     int64
	receipt queue.Receipt
	lastErr string
	ackedAt time.Time // non-zero: acked, kept for retention
}

var (
	_ queue.Store    = (*Store)(nil)
	_ queue.Notifier = (*Store)(nil)
)

// StoreOption configures a Store.
type StoreOption func(*Store)

// WithClock sets the store's clock (default worker.SystemClock).
func WithClock(c worker.Clock) StoreOption { return func(s *Store) { s.clock = c } }

// New returns an empty store.
func New(opts ...StoreOption) *Store {
	s := &Store{clock: worker.SystemClock, queues: map[string]*q{}, byRcpt: map[queue.Receipt]*msg{},
		subs: map[string]map[chan struct{}]struct{}{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

func (s *Store) queue(name string) (*q, error) {
	qu, ok := s.queues[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", queue.ErrUnknownQueue, name)
	}
	return qu, nil
}

// Declare implements queue.Store.
func (s *Store) Declare(ctx context.Context, name string, opts ...queue.Option) (queue.Config, error) {
	cfg, err := queue.NewConfig(name, opts...)
	if err != nil {
		return queue.Config{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if qu, ok := s.queues[name]; ok {
		qu.cfg = cfg
	} else {
		s.queues[name] = &q{cfg: cfg, msgs: map[uuid.UUID]*msg{}, dead: map[uuid.UUID]*queue.DeadLetter{}, dedup: map[string]dedup{}}
	}
	return cfg, nil
}

// Queue implements queue.Store.
func (s *Store) Queue(ctx context.Context, name string) (queue.Config, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	qu, err := s.queue(name)
	if err != nil {
		return queue.Config{}, err
	}
	return qu.cfg, nil
}

// Queues implements queue.Store.
func (s *Store) Queues(ctx context.Context) ([]queue.Config, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []queue.Config
	for _, n := range slices.Sorted(maps.Keys(s.queues)) {
		out = append(out, s.queues[n].cfg)
	}
	return out, nil
}

// Enqueue implements queue.Store.
func (s *Store) Enqueue(ctx context.Context, name string, msgs ...queue.Outgoing) ([]queue.Enqueued, error) {
	ps, err := queue.Prepare(name, msgs)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	qu, err := s.queue(name)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	// Check everything before writing, so a failure writes nothing.
	for _, p := range ps {
		if _, dup := qu.msgs[p.ID]; dup {
			return nil, fmt.Errorf("%w: message id %s is already stored", queue.ErrInvalidMessage, p.ID)
		}
	}
	out := make([]queue.Enqueued, len(ps))
	for i, p := range ps {
		if p.DedupKey != "" {
			if d, ok := qu.dedup[p.DedupKey]; ok && now.Before(d.expires) {
				out[i] = queue.Enqueued{ID: d.id, Duplicate: true}
				continue
			}
			qu.dedup[p.DedupKey] = dedup{id: p.ID, expires: now.Add(p.DedupWindow)}
		}
		avail := now.Add(p.Delay)
		if p.NotBefore.After(avail) {
			avail = p.NotBefore
		}
		s.seq++
		qu.msgs[p.ID] = &msg{seq: s.seq, Message: queue.Message{
			ID: p.ID, Queue: name, Payload: clone(p.Payload), Headers: maps.Clone(p.Headers),
			Priority: p.Priority, EnqueuedAt: now, AvailableAt: avail,
		}}
		out[i] = queue.Enqueued{ID: p.ID}
		s.wake(name)
	}
	return out, nil
}

// Dequeue implements queue.Store.
func (s *Store) Dequeue(ctx context.Context, name string, n int, visibility time.Duration) ([]queue.Delivery, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	qu, err := s.queue(name)
	if err != nil {
		return nil, err
	}
	return s.dequeue(qu, n, visibility), nil
}

// AckDequeue implements queue.AckDequeuer: AckMany and Dequeue under one
// lock.
func (s *Store) AckDequeue(ctx context.Context, rs []queue.Receipt, name string, n int, visibility time.Duration) ([]queue.Receipt, []queue.Delivery, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	qu, err := s.queue(name)
	if err != nil {
		return nil, nil, err
	}
	var stale []queue.Receipt
	for _, r := range rs {
		if s.ack(r) != nil {
			stale = append(stale, r)
		}
	}
	return stale, s.dequeue(qu, n, visibility), nil
}

// dequeue is Dequeue's work; the lock is held.
func (s *Store) dequeue(qu *q, n int, visibility time.Duration) []queue.Delivery {
	if visibility <= 0 {
		visibility = qu.cfg.VisibilityTimeout
	}
	now := s.clock.Now()
	var ready []*msg
	for _, m := range qu.msgs {
		if m.ackedAt.IsZero() && !m.AvailableAt.After(now) {
			ready = append(ready, m)
		}
	}
	slices.SortFunc(ready, func(a, b *msg) int {
		return cmp.Or(cmp.Compare(b.Priority, a.Priority), a.AvailableAt.Compare(b.AvailableAt), cmp.Compare(a.seq, b.seq))
	})
	var out []queue.Delivery
	for _, m := range ready {
		if len(out) >= n {
			break
		}
		if m.Attempts >= qu.cfg.MaxAttempts {
			// Its last delivery's visibility ran out: no attempt left.
			s.kill(qu, m, fmt.Sprintf("visibility timeout expired on attempt %d", m.Attempts), now)
			continue
		}
		delete(s.byRcpt, m.receipt)
		m.Attempts++
		m.receipt = queue.Receipt(uuid.NewString())
		m.AvailableAt = now.Add(visibility)
		s.byRcpt[m.receipt] = m
		out = append(out, queue.Delivery{Message: m.copy(), Receipt: m.receipt, VisibleUntil: m.AvailableAt})
	}
	return out
}

func (s *Store) kill(qu *q, m *msg, lastErr string, now time.Time) {
	delete(s.byRcpt, m.receipt)
	delete(qu.msgs, m.ID)
	qu.dead[m.ID] = &queue.DeadLetter{Message: m.copy(), LastError: lastErr, DeadAt: now}
}

// current returns the message r is the current delivery of.
func (s *Store) current(r queue.Receipt) (*msg, *q, error) {
	m, ok := s.byRcpt[r]
	if !ok {
		return nil, nil, queue.ErrStaleReceipt
	}
	return m, s.queues[m.Queue], nil
}

// Ack implements queue.Store.
func (s *Store) Ack(ctx context.Context, r queue.Receipt) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ack(r)
}

// ack acks r; the lock is held.
func (s *Store) ack(r queue.Receipt) error {
	m, qu, err := s.current(r)
	if err != nil {
		return err
	}
	delete(s.byRcpt, r)
	m.receipt = ""
	if qu.cfg.Retention > 0 {
		m.ackedAt = s.clock.Now()
	} else {
		delete(qu.msgs, m.ID)
	}
	return nil
}

// AckMany implements queue.Store.
func (s *Store) AckMany(ctx context.Context, rs []queue.Receipt) ([]queue.Receipt, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var stale []queue.Receipt
	for _, r := range rs {
		if s.ack(r) != nil {
			stale = append(stale, r)
		}
	}
	return stale, nil
}

// Release implements queue.Store.
func (s *Store) Release(ctx context.Context, r queue.Receipt) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, _, err := s.current(r)
	if err != nil {
		return err
	}
	delete(s.byRcpt, r)
	m.receipt = ""
	m.Attempts = max(m.Attempts-1, 0)
	m.AvailableAt = s.clock.Now()
	s.wake(m.Queue)
	return nil
}

// Fail implements queue.Store.
func (s *Store) Fail(ctx context.Context, r queue.Receipt, cause error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, qu, err := s.current(r)
	if err != nil {
		return err
	}
	m.lastErr = errText(cause)
	s.kill(qu, m, m.lastErr, s.clock.Now())
	return nil
}

// NextAvailable implements queue.Store.
func (s *Store) NextAvailable(ctx context.Context, name string) (time.Time, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	qu, err := s.queue(name)
	if err != nil {
		return time.Time{}, false, err
	}
	var next time.Time
	for _, m := range qu.msgs {
		if m.ackedAt.IsZero() && (next.IsZero() || m.AvailableAt.Before(next)) {
			next = m.AvailableAt
		}
	}
	return next, !next.IsZero(), nil
}

// Subscribe implements queue.Notifier: enqueues, nacks without delay,
// releases and requeues wake the queue's subscribers.
func (s *Store) Subscribe(name string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.subs[name] == nil {
		s.subs[name] = map[chan struct{}]struct{}{}
	}
	s.subs[name][ch] = struct{}{}
	return ch, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.subs[name], ch)
	}
}

// wake signals the queue's subscribers; the lock is held.
func (s *Store) wake(name string) {
	for ch := range s.subs[name] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Nack implements queue.Store.
func (s *Store) Nack(ctx context.Context, r queue.Receipt, delay time.Duration, cause error) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, qu, err := s.current(r)
	if err != nil {
		return false, err
	}
	now := s.clock.Now()
	m.lastErr = errText(cause)
	if m.Attempts >= qu.cfg.MaxAttempts {
		s.kill(qu, m, m.lastErr, now)
		return true, nil
	}
	delete(s.byRcpt, r)
	m.receipt = ""
	m.AvailableAt = now.Add(max(delay, 0))
	if delay <= 0 {
		s.wake(m.Queue)
	}
	return false, nil
}

// Extend implements queue.Store.
func (s *Store) Extend(ctx context.Context, r queue.Receipt, d time.Duration) (time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, _, err := s.current(r)
	if err != nil {
		return time.Time{}, err
	}
	m.AvailableAt = s.clock.Now().Add(max(d, 0))
	return m.AvailableAt, nil
}

// DeadLetters implements queue.Store.
func (s *Store) DeadLetters(ctx context.Context, name string, after uuid.UUID, limit int) ([]queue.DeadLetter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	qu, err := s.queue(name)
	if err != nil {
		return nil, err
	}
	var out []queue.DeadLetter
	for _, id := range slices.SortedFunc(maps.Keys(qu.dead), func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) }) {
		if slices.Compare(id[:], after[:]) <= 0 {
			continue
		}
		if len(out) >= limit {
			break
		}
		d := *qu.dead[id]
		d.Message = copyMsg(d.Message)
		out = append(out, d)
	}
	return out, nil
}

// DeadLetter implements queue.Store.
func (s *Store) DeadLetter(ctx context.Context, name string, id uuid.UUID) (queue.DeadLetter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	qu, err := s.queue(name)
	if err != nil {
		return queue.DeadLetter{}, err
	}
	d, ok := qu.dead[id]
	if !ok {
		return queue.DeadLetter{}, fmt.Errorf("%w: dead letter %s in queue %q", queue.ErrNotFound, id, name)
	}
	out := *d
	out.Message = copyMsg(out.Message)
	return out, nil
}

// Requeue implements queue.Store.
func (s *Store) Requeue(ctx context.Context, name string, id uuid.UUID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	qu, err := s.queue(name)
	if err != nil {
		return err
	}
	d, ok := qu.dead[id]
	if !ok {
		return fmt.Errorf("%w: dead letter %s in queue %q", queue.ErrNotFound, id, name)
	}
	delete(qu.dead, id)
	s.seq++
	m := &msg{seq: s.seq, Message: d.Message}
	m.Attempts = 0
	m.AvailableAt = s.clock.Now()
	qu.msgs[id] = m
	s.wake(name)
	return nil
}

// Discard implements queue.Store.
func (s *Store) Discard(ctx context.Context, name string, id uuid.UUID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	qu, err := s.queue(name)
	if err != nil {
		return err
	}
	if _, ok := qu.dead[id]; !ok {
		return fmt.Errorf("%w: dead letter %s in queue %q", queue.ErrNotFound, id, name)
	}
	delete(qu.dead, id)
	return nil
}

// Stats implements queue.Store.
func (s *Store) Stats(ctx context.Context, name string) (queue.Stats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	qu, err := s.queue(name)
	if err != nil {
		return queue.Stats{}, err
	}
	now := s.clock.Now()
	st := queue.Stats{Dead: int64(len(qu.dead))}
	for _, m := range qu.msgs {
		if !m.ackedAt.IsZero() {
			continue
		}
		st.Depth++
		switch {
		case !m.AvailableAt.After(now):
			st.Ready++
			st.OldestReadyAge = max(st.OldestReadyAge, now.Sub(m.AvailableAt))
		case m.receipt != "":
			st.InFlight++
		}
	}
	return st, nil
}

// Purge implements queue.Store.
func (s *Store) Purge(ctx context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	var n int64
	for _, qu := range s.queues {
		for id, m := range qu.msgs {
			if !m.ackedAt.IsZero() && !now.Before(m.ackedAt.Add(qu.cfg.Retention)) {
				delete(qu.msgs, id)
				n++
			}
		}
		for k, d := range qu.dedup {
			if !now.Before(d.expires) {
				delete(qu.dedup, k)
				n++
			}
		}
	}
	return n, nil
}

func (m *msg) copy() queue.Message { return copyMsg(m.Message) }

func copyMsg(m queue.Message) queue.Message {
	m.Payload = clone(m.Payload)
	m.Headers = maps.Clone(m.Headers)
	return m
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
