package saga

import (
	"context"
	"sync"
	"time"

	"github.com/causewayhq/causeway/worker"
)

// Hand-off: a new instance goes from the subscription that starts it
// straight to a slot of the executor in the same process, without a claim.
//
// Without it, a start is an INSERT in the subscription's transaction, and
// the executor, woken after the commit, claims the instance (a statement, a
// commit, and a hop between goroutines before the first step). With
// HandOff, the subscription creates the instance already leased to the
// executor, as a claim would have left it (Store.StartLeased), and
// registers it with worker.Delivery.AfterCommit: once the transaction
// commits, the instance joins the executor's ready queue, and a free slot —
// or the next slot to finish its instance — runs it. If the transaction
// rolls back the instance does not exist and nothing is handed over; if the
// process dies before running it, its lease runs out and any executor
// claims it, as with a crash after a claim.
//
// The executor's claims fill the same queue ahead of its free slots
// (Run). The lease is counted from the INSERT (the claim), so an instance
// that waits in the ready queue longer than half the lease margin is released (due at once,
// unleased) instead of run: a step never starts with less than its timeout
// plus half the margin of lease left. The queue is bounded (Concurrency
// instances, counting those whose transaction has not committed yet), and
// the hand-off stops while the executor has a backlog (its last claim
// filled every free slot): new instances then go unleased to the due queue
// behind the older ones, so a steady stream of new starts cannot starve
// instances that wait for a claim.
type handoff struct {
	mu sync.Mutex
	// stopped: Run has returned; instances are no longer handed over (and
	// those whose transaction commits after it are let go). Before Run
	// starts they are: the runtime starts the subscription's worker and
	// the executor together, and the first commit may come first.
	stopped bool
	backlog bool
	ready   []Instance // committed, leased to us; LeaseExpiresAt by our clock
	// inTx counts the instances started leased in each partition's
	// transaction in hand, not committed yet (see reserve).
	inTx map[partKey]txCount
	// readyc tells Run that the ready queue grew.
	readyc chan struct{}
}

type partKey struct {
	sub  string
	part int
}

type txCount struct {
	tx    any
	n     int
	since time.Time
}

// HandOff makes the subscription hand the instances it starts to x (an
// executor of the same process, running the same definition) once its
// transaction commits, leased to x from the start: no claim, and no wake-up
// and claim between the start and the first step. It also wakes x after a
// commit that made something else due (a start it could not hand over, an
// event filed for a waiting instance), so no Committed hook need wake it.
// Deliveries without a transaction (the memory checkpoint store) start
// instances unleased and wake x at once. x must be Run in this process
// (instances handed over before Run starts wait for it; if it never
// runs, they are claimed elsewhere once their lease runs out).
func HandOff(x *Executor) SubscriptionOption {
	return func(c *subscriptionConfig) { c.executor = x }
}

func newHandoff() *handoff {
	return &handoff{inTx: map[partKey]txCount{}, readyc: make(chan struct{}, 1)}
}

// reserve asks for room for one more instance started leased in tx (a
// partition's transaction in hand), at now.
func (x *Executor) reserve(key partKey, tx any, now time.Time) bool {
	h := x.ho
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped || h.backlog {
		return false
	}
	c := h.inTx[key]
	if c.tx != tx {
		// A new transaction of this partition: the last one committed
		// (its instances are in ready) or rolled back (they never existed).
		c = txCount{tx: tx, since: now}
	}
	n := len(h.ready)
	for k, o := range h.inTx {
		switch {
		case k == key:
		case now.Sub(o.since) > x.lease/2:
			delete(h.inTx, k) // a partition that went away mid-transaction
		default:
			n += o.n
		}
	}
	if n+c.n >= x.cfg.Concurrency {
		return false
	}
	c.n++
	h.inTx[key] = c
	return true
}

// readyRoom is how many more instances the ready queue may take (claimed
// ahead of free slots): Concurrency, less what is ready or being handed
// over.
func (x *Executor) readyRoom() int {
	h := x.ho
	h.mu.Lock()
	defer h.mu.Unlock()
	n := len(h.ready)
	for _, c := range h.inTx {
		n += c.n
	}
	return max(x.cfg.Concurrency-n, 0)
}

// unreserve gives back a reservation that created nothing.
func (x *Executor) unreserve(key partKey, tx any) {
	h := x.ho
	h.mu.Lock()
	defer h.mu.Unlock()
	if c := h.inTx[key]; c.tx == tx && c.n > 0 {
		c.n--
		h.inTx[key] = c
	}
}

// handOver queues an instance whose start committed (AfterCommit of the
// transaction tx of partition key).
func (x *Executor) handOver(key partKey, tx any, inst Instance) {
	h := x.ho
	h.mu.Lock()
	if c := h.inTx[key]; c.tx == tx && c.n > 0 {
		c.n--
		h.inTx[key] = c
	}
	stopped := h.stopped
	if !stopped {
		h.ready = append(h.ready, inst)
	}
	h.mu.Unlock()
	if stopped {
		// The executor stopped meanwhile: let another take it now rather
		// than when the lease runs out.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		x.letGo(ctx, inst)
		return
	}
	select {
	case h.readyc <- struct{}{}:
	default:
	}
}

// takeReady returns the next ready instance with enough lease left to run,
// releasing those that waited too long.
func (x *Executor) takeReady(ctx context.Context) (Instance, bool) {
	h := x.ho
	for {
		h.mu.Lock()
		if len(h.ready) == 0 {
			h.mu.Unlock()
			return Instance{}, false
		}
		inst := h.ready[0]
		h.ready[0] = Instance{}
		h.ready = h.ready[1:]
		if len(h.ready) == 0 {
			h.ready = nil
		}
		h.mu.Unlock()
		if inst.LeaseExpiresAt.Sub(x.cfg.Clock.Now()) >= x.lease-x.cfg.LeaseMargin/2 {
			return inst, true
		}
		x.letGo(ctx, inst)
	}
}

// letGo releases a handed-over instance that will not run here: due at
// once, unleased, for any executor's claim.
func (x *Executor) letGo(ctx context.Context, inst Instance) {
	next := inst
	next.NextAttemptAt = x.cfg.Clock.Now()
	if _, err := x.cfg.Store.Record(ctx, inst, next, HistoryEntry{}, Effects{}, nil, 0); err != nil {
		x.cfg.Logger.Warn("causeway: handing a saga back failed; it runs when its lease runs out", "saga", inst.Type,
			"correlation_id", inst.CorrelationID, "err", err)
	}
	x.Wake()
}

// stop closes the hand-off when Run returns, and returns what was ready
// and not run.
func (x *Executor) stop() []Instance {
	h := x.ho
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopped, h.backlog = true, false
	left := h.ready
	h.ready = nil
	clear(h.inTx)
	return left
}

// reopen opens the hand-off again for a Run after an earlier one returned.
func (x *Executor) reopen() {
	x.ho.mu.Lock()
	x.ho.stopped = false
	x.ho.mu.Unlock()
}

// setBacklog records whether the last claim filled every free slot.
func (x *Executor) setBacklog(b bool) {
	x.ho.mu.Lock()
	x.ho.backlog = b
	x.ho.mu.Unlock()
}

// startInstance is how the subscription creates a new instance: leased and
// handed over to the executor when it has room and d has a transaction to
// wait for, else unleased, with the executor woken once it is committed.
func startInstance(ctx context.Context, store Store, x *Executor, d *worker.Delivery, inst Instance) (bool, error) {
	if x == nil {
		return store.Start(ctx, d.Tx, inst)
	}
	key := partKey{d.Subscription, d.Partition}
	var tx any = d.Tx
	now := x.cfg.Clock.Now()
	var started *Instance // set once created: the hand-over after commit
	if d.Tx != nil && x.reserve(key, tx, now) {
		if !d.AfterCommit(func() {
			if started != nil {
				x.handOver(key, tx, *started)
			}
		}) {
			x.unreserve(key, tx)
		} else {
			got, created, err := store.StartLeased(ctx, d.Tx, inst, x.cfg.Owner, x.lease)
			if err != nil || !created {
				x.unreserve(key, tx)
				return false, err
			}
			// Our view of the lease: counted from before the statement.
			got.LeaseExpiresAt = now.Add(x.lease)
			started = &got
			return true, nil
		}
	}
	created, err := store.Start(ctx, d.Tx, inst)
	if err == nil && created {
		wakeAfterCommit(x, d)
	}
	return created, err
}

// wakeAfterCommit wakes x once d's transaction commits (at once without
// one).
func wakeAfterCommit(x *Executor, d *worker.Delivery) {
	if !d.AfterCommit(x.Wake) {
		x.Wake()
	}
}
