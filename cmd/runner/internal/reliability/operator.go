package reliability

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/runtime/ops"
	"github.com/causewayhq/causeway/saga"
)

// Operator actions, as counted in the summary.
const (
	opDLQRetry      = "dlq-retry"
	opDLQDiscard    = "dlq-discard"
	opFix           = "fix" // the operator repairs what a fixable event or compensation needs
	opSagaRetry     = "saga-retry"
	opSagaResume    = "saga-resume"
	opSagaCancel    = "saga-cancel-failed"
	opSagaCancelRun = "saga-cancel-running"
)

// operator acts on dead letters and sagas the way a person on call would,
// through the runtime's operations API (the same the CLI and HTTP API use),
// and remembers what it did for the oracle. One goroutine at a time acts
// (the loop during the run, then the settler); mu guards what the oracle
// reads.
type operator struct {
	ops   *ops.Ops
	c     *consumer // for the fixes table
	rng   *rand.Rand
	viol  *violations
	debug *slog.Logger

	mu        sync.Mutex
	counts    map[string]int
	rounds    int
	discarded map[string]map[uuid.UUID]bool // subscription → event ids discarded
	resumed   map[uuid.UUID]int             // saga id → step (from 1) whose compensation was skipped
	cancelled map[uuid.UUID]string          // saga id → the cancel action
	// unexpected are the dead letters (subscription/id) that failed for a
	// reason the workload did not inject, already reported.
	unexpected map[string]bool
}

func newOperator(ops *ops.Ops, c *consumer, seed int64, viol *violations, debug *slog.Logger) *operator {
	return &operator{ops: ops, c: c, rng: rand.New(rand.NewPCG(uint64(seed), 5)), viol: viol, debug: debug,
		counts: map[string]int{}, discarded: map[string]map[uuid.UUID]bool{},
		resumed: map[uuid.UUID]int{}, cancelled: map[uuid.UUID]string{}, unexpected: map[string]bool{}}
}

func (o *operator) count(action string) {
	o.mu.Lock()
	o.counts[action]++
	o.mu.Unlock()
}

// loop runs a round every 1–5 s until ctx ends, like someone on call
// watching the dead letters: parked events must not pile up to the cap.
func (o *operator) loop(ctx context.Context) {
	for {
		wait := time.Duration(1000+o.rng.IntN(4000)) * time.Millisecond
		if sleep(ctx, wait) != nil {
			return
		}
		o.act(ctx, false)
		o.mu.Lock()
		o.rounds++
		o.mu.Unlock()
	}
}

// act runs one round. During the run (all false) it handles about half the
// dead-lettered keys and failed sagas and sometimes cancels a running saga;
// when settling (all true) it handles everything it can.
func (o *operator) act(ctx context.Context, all bool) {
	for _, sub := range subscriptionNames {
		dls, err := listDeadLetters(ctx, o.ops, sub)
		if err != nil {
			o.debug.Debug("operator: list dead letters", "err", err)
			continue
		}
		o.report(sub, dls)
		for _, key := range byKey(dls) {
			if !all && o.rng.IntN(2) == 0 {
				continue
			}
			o.handleKey(ctx, sub, key)
		}
	}
	o.handleFailedSagas(ctx, all)
	if !all && o.rng.IntN(3) == 0 {
		o.cancelRunning(ctx)
	}
}

// report records dead letters that failed for a reason the workload did
// not inject (an outage, say): the operator sees them before retrying them
// away, so the oracle at the end would not.
func (o *operator) report(sub string, dls []checkpoint.DeadLetter) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, d := range dls {
		id := fmt.Sprintf("%s/%d", sub, d.ID)
		if parked(d) || retrying(d) || injectedError(d.Error) || o.unexpected[id] {
			continue
		}
		o.unexpected[id] = true
		o.viol.add("dead-letter-unexpected", "%s: %s v%d dead-lettered after %d attempts: %s",
			sub, d.StreamID, d.Version, d.Attempts, firstLine(d.Error))
	}
}

// handleKey deals with one key's dead letters (in version order): a
// permanent poison is discarded and the key's parked events retried; a
// fixable one is fixed and retried; anything else is retried. It goes by
// the error, not the Blocked flag: a parked event whose retry failed keeps
// the flag.
func (o *operator) handleKey(ctx context.Context, sub string, dls []checkpoint.DeadLetter) {
	if slices.ContainsFunc(dls, func(d checkpoint.DeadLetter) bool { return d.RetryRequested }) {
		return // a retry is on its way
	}
	head := dls[0]
	retry := head
	switch {
	case strings.Contains(head.Error, errPermanentText):
		if err := o.ops.DiscardDeadLetter(ctx, sub, head.ID, "reliability operator"); err != nil {
			o.debug.Debug("operator: discard", "err", err)
			return
		}
		o.mu.Lock()
		if o.discarded[sub] == nil {
			o.discarded[sub] = map[uuid.UUID]bool{}
		}
		o.discarded[sub][head.EventID] = true
		o.counts[opDLQDiscard]++
		o.mu.Unlock()
		if len(dls) == 1 {
			return
		}
		retry = dls[1]
	case strings.Contains(head.Error, errFixableText):
		if !o.fix(ctx, head.EventID.String()) {
			return
		}
	}
	if err := o.ops.RetryDeadLetter(ctx, sub, retry.ID); err != nil {
		o.debug.Debug("operator: retry", "err", err)
		return
	}
	o.count(opDLQRetry)
}

// fix records that what key names is repaired.
func (o *operator) fix(ctx context.Context, key string) bool {
	_, err := o.c.pool.Exec(ctx, `INSERT INTO `+o.c.tables.fixes+` (key) VALUES ($1) ON CONFLICT DO NOTHING`, key)
	if err != nil {
		o.debug.Debug("operator: fix", "err", err)
		return false
	}
	o.count(opFix)
	return true
}

// handleFailedSagas deals with sagas whose compensation ran out of
// retries: an injected failure is fixed and retried, or resumed past, or
// given up (cancelled); any other is retried.
func (o *operator) handleFailedSagas(ctx context.Context, all bool) {
	failed, err := listSagas(ctx, o.ops, saga.StatusFailed)
	if err != nil {
		o.debug.Debug("operator: list failed sagas", "err", err)
		return
	}
	for _, inst := range failed {
		if !all && o.rng.IntN(2) == 0 {
			continue
		}
		step := inst.Step + 1
		action := opSagaRetry
		if strings.Contains(inst.LastError, errCompFailText) {
			switch x := o.rng.Float64(); {
			case x < 0.6:
				if !o.fix(ctx, "saga:"+saga.IdempotencyKey(inst.ID, sagaSteps[inst.Step], true)) {
					continue
				}
			case x < 0.85:
				action = opSagaResume
			default:
				action = opSagaCancel
			}
		}
		switch action {
		case opSagaRetry:
			_, err = o.ops.RetrySaga(ctx, inst.ID)
		case opSagaResume:
			_, err = o.ops.ResumeSaga(ctx, inst.ID)
		case opSagaCancel:
			_, err = o.ops.CancelSaga(ctx, inst.ID)
		}
		if err != nil {
			o.debug.Debug("operator: saga action", "action", action, "saga", inst.ID, "err", err)
			continue
		}
		o.mu.Lock()
		o.counts[action]++
		switch action {
		case opSagaResume:
			o.resumed[inst.ID] = step
		case opSagaCancel:
			o.cancelled[inst.ID] = action
		}
		o.mu.Unlock()
	}
}

// cancelRunning cancels one running saga (one waiting to retry a flaky
// step, typically): it must compensate exactly its completed steps.
func (o *operator) cancelRunning(ctx context.Context) {
	running, err := o.ops.Sagas(ctx, saga.Query{Type: sagaName, Status: saga.StatusRunning, Limit: 50})
	if err != nil || len(running) == 0 {
		return
	}
	inst := running[o.rng.IntN(len(running))]
	if _, err := o.ops.CancelSaga(ctx, inst.ID); err != nil {
		o.debug.Debug("operator: cancel running saga", "saga", inst.ID, "err", err)
		return // running a step now, most likely
	}
	o.mu.Lock()
	o.counts[opSagaCancelRun]++
	o.cancelled[inst.ID] = opSagaCancelRun
	o.mu.Unlock()
}

// parked reports whether a dead letter is an event parked behind an
// earlier one of its key, never attempted.
func parked(d checkpoint.DeadLetter) bool { return d.Blocked && d.Attempts == 0 }

// retrying reports a key's head that waits to be retried: no verdict yet.
// A database outage leaves such rows (the worker does not count the
// outage as an attempt, so it never makes a dead letter); a row that
// fails for another reason is judged when it is dead.
func retrying(d checkpoint.DeadLetter) bool { return d.Retrying() && !d.Blocked }

// listDeadLetters returns every dead letter of a subscription.
func listDeadLetters(ctx context.Context, ops *ops.Ops, sub string) ([]checkpoint.DeadLetter, error) {
	var out []checkpoint.DeadLetter
	q := checkpoint.DeadLetterQuery{Subscription: sub, Limit: 500}
	for {
		page, err := ops.DeadLetters(ctx, q)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < q.Limit {
			return out, nil
		}
		q.AfterID = page[len(page)-1].ID
	}
}

// listSagas returns every instance of the harness's saga in a status ("" =
// all).
func listSagas(ctx context.Context, ops *ops.Ops, status saga.Status) ([]saga.Instance, error) {
	var out []saga.Instance
	q := saga.Query{Type: sagaName, Status: status, Limit: 500}
	for {
		page, err := ops.Sagas(ctx, q)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < q.Limit {
			return out, nil
		}
		q.After = page[len(page)-1].ID
	}
}

// byKey groups dead letters by key, each group in version order.
func byKey(dls []checkpoint.DeadLetter) [][]checkpoint.DeadLetter {
	groups := map[string][]checkpoint.DeadLetter{}
	var keys []string
	for _, d := range dls {
		if _, ok := groups[d.Key]; !ok {
			keys = append(keys, d.Key)
		}
		groups[d.Key] = append(groups[d.Key], d)
	}
	out := make([][]checkpoint.DeadLetter, 0, len(keys))
	for _, k := range keys {
		g := groups[k]
		slices.SortFunc(g, func(a, b checkpoint.DeadLetter) int { return cmp.Compare(a.Version, b.Version) })
		out = append(out, g)
	}
	return out
}
