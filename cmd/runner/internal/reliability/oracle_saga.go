package reliability

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/runtime/ops"
	"github.com/causewayhq/causeway/saga"
)

// sagaEffect is a step's recorded effect.
type sagaEffect struct {
	Key                     string
	SagaID                  uuid.UUID
	Step                    int // from 1
	Compensation            bool
	Runs                    int
	FirstSeq, LastSeq       int64
	FirstMember, LastMember string
	FirstAt, LastAt         time.Time
}

// SagaResult is what the oracle found of the sagas.
type SagaResult struct {
	Requested int            `json:"requested"` // requests in the log
	Instances int            `json:"instances"`
	ByStatus  map[string]int `json:"by_status"`
	Operator  int            `json:"operator_driven"` // resumed or cancelled by the operator
	// StepReRuns counts effects a step recorded more than once under its
	// idempotency key, by cause (allowed after a kill or a PostgreSQL crash).
	StepReRuns        int            `json:"step_reruns"`
	StepReRunsByCause map[string]int `json:"step_reruns_by_cause,omitempty"`
	// AwaitingOperator: failed sagas (an injected compensation failure)
	// left alone because operator actions were off.
	AwaitingOperator int `json:"awaiting_operator,omitempty"`
	// Environmental: sagas whose outcome differs from their plan because a
	// step failed for a reason the plan did not inject (e.g. PostgreSQL was
	// down longer than the step's retries).
	Environmental int `json:"environmental_outcomes"`
}

// operatorRecord is what the operator did to sagas.
type operatorRecord struct {
	on        bool // operator actions were enabled
	resumed   map[uuid.UUID]int
	cancelled map[uuid.UUID]string
}

func readSagaEffects(ctx context.Context, pool *pgxpool.Pool, table string) (map[uuid.UUID][]sagaEffect, error) {
	rows, err := pool.Query(ctx, `SELECT idem_key, saga_id, step_no, compensation, runs, first_seq, last_seq,
		first_member, last_member, first_at, last_at FROM `+table)
	if err != nil {
		return nil, fmt.Errorf("read saga effects: %w", err)
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (sagaEffect, error) {
		var e sagaEffect
		err := r.Scan(&e.Key, &e.SagaID, &e.Step, &e.Compensation, &e.Runs, &e.FirstSeq, &e.LastSeq,
			&e.FirstMember, &e.LastMember, &e.FirstAt, &e.LastAt)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("read saga effects: %w", err)
	}
	out := map[uuid.UUID][]sagaEffect{}
	for _, e := range all {
		out[e.SagaID] = append(out[e.SagaID], e)
	}
	return out, nil
}

// checkSagas checks the Garcia-Molina & Salem semantics from the effects
// the steps recorded: each saga completed T1…Tn, or ran T1…Tk-1 and then
// C(k-1)…C1 in reverse; never a compensation of a step that did not
// complete; every effect at most once per idempotency key (re-runs only
// after a crash); every committed request started exactly one saga; none
// left unfinished; and each ended as its plan said, unless the operator
// intervened.
func (ev *evidence) checkSagas(ctx context.Context, ops *ops.Ops, effects map[uuid.UUID][]sagaEffect,
	rec operatorRecord, viol *violations) (SagaResult, error) {
	res := SagaResult{ByStatus: map[string]int{}, StepReRunsByCause: map[string]int{}}
	insts, err := listSagas(ctx, ops, "")
	if err != nil {
		return res, fmt.Errorf("list sagas: %w", err)
	}
	res.Instances = len(insts)
	byCorr := map[string]saga.Instance{}
	for _, in := range insts {
		byCorr[in.CorrelationID] = in
		res.ByStatus[string(in.Status)]++
	}
	x := ev.exclusions(saga.SubscriptionName(sagaName))
	requested := map[string]bool{}
	for _, r := range ev.requests {
		res.Requested++
		requested[r.Stream] = true
		if _, ok := byCorr[r.Stream]; !ok && x.why(r) == "" {
			viol.add("saga-start-lost", "request %s (event %s) committed, but no saga was started", r.Stream, short(r.ID))
		}
	}
	ev.checkDeadLetters(saga.SubscriptionName(sagaName), viol)
	for _, in := range insts {
		if !requested[in.CorrelationID] {
			viol.add("saga-phantom", "saga %s (%s) has no committed request (a rolled-back append?)", in.CorrelationID, in.Status)
		}
		_, resumed := rec.resumed[in.ID]
		_, cancelled := rec.cancelled[in.ID]
		if resumed || cancelled {
			res.Operator++
		}
		d, err := ops.Saga(ctx, in.ID)
		if err != nil {
			return res, fmt.Errorf("saga %s: %w", in.ID, err)
		}
		ev.checkSaga(d, effects[in.ID], rec, viol, &res)
	}
	return res, nil
}

// checkSaga checks one saga.
func (ev *evidence) checkSaga(d saga.Details, effects []sagaEffect, rec operatorRecord, viol *violations, res *SagaResult) {
	in := d.Instance
	name := in.CorrelationID
	switch {
	case in.Status == saga.StatusFailed && !rec.on && strings.Contains(in.LastError, errCompFailText):
		res.AwaitingOperator++
	case !in.Status.Terminal():
		viol.add("saga-not-terminal", "%s is %s at step %s (attempts %d): %s", name, in.Status,
			sagaSteps[min(in.Step, len(sagaSteps)-1)], in.Attempts, firstLine(in.LastError))
	}
	var acts, comps []sagaEffect
	for _, e := range effects {
		if e.Runs > 1 {
			c := cause(ev.marks, e.FirstAt, e.LastAt, e.FirstMember, clockSlack, ev.leaseLead)
			key := map[string]string{FaultPGCrash: dupPGCrash, FaultPGRestart: dupPGRestart, FaultKill: dupKill,
				eventDied: dupDied, FaultLeave: dupGraceful, eventStopped: dupGraceful}[c]
			if key == "" {
				key = dupLive
				if e.FirstMember == e.LastMember {
					key = dupSameMember
				}
			}
			res.StepReRuns += e.Runs - 1
			res.StepReRunsByCause[key] += e.Runs - 1
			if !allowedDup[key] {
				viol.add("saga-step-rerun-"+key, "%s: %s ran %d times (first by %s at %s, last by %s at %s)", name, e.Key,
					e.Runs, e.FirstMember, e.FirstAt.Format("15:04:05.000"), e.LastMember, e.LastAt.Format("15:04:05.000"))
			}
		}
		if e.Compensation {
			comps = append(comps, e)
		} else {
			acts = append(acts, e)
		}
	}
	slices.SortFunc(acts, func(a, b sagaEffect) int { return cmp.Compare(a.Step, b.Step) })
	slices.SortFunc(comps, func(a, b sagaEffect) int { return cmp.Compare(a.FirstSeq, b.FirstSeq) })
	done := map[int]bool{}
	var lastAct int64
	for i, a := range acts {
		done[a.Step] = true
		if a.Step != i+1 {
			viol.add("saga-actions-not-a-prefix", "%s: completed actions %v", name, steps(acts))
			break
		}
		if i > 0 && a.FirstSeq < acts[i-1].FirstSeq {
			viol.add("saga-order", "%s: action %d recorded before action %d", name, a.Step, acts[i-1].Step)
		}
		lastAct = max(lastAct, a.LastSeq)
	}
	m := len(acts)
	for i, c := range comps {
		if !done[c.Step] {
			viol.add("saga-compensated-uncompleted-step", "%s: compensation of step %d, whose action never completed (actions %v)", name, c.Step, steps(acts))
		}
		if c.FirstSeq < lastAct {
			viol.add("saga-order", "%s: compensation of step %d recorded before the last action's effect", name, c.Step)
		}
		if i > 0 && c.Step >= comps[i-1].Step {
			viol.add("saga-order", "%s: compensations not in reverse order: %v", name, steps(comps))
		}
	}
	// The compensations a finished saga must have run: those of its
	// completed steps (the last step has none), from the highest down,
	// except one the operator resumed past; a saga cancelled while failed
	// stops where its compensation failed.
	var want []int
	for s := min(m, len(sagaSteps)-1); s >= 1; s-- {
		if rec.resumed[in.ID] != s {
			want = append(want, s)
		}
	}
	got := steps(comps)
	switch in.Status {
	case saga.StatusCompleted:
		if m != len(sagaSteps) || len(comps) > 0 {
			viol.add("saga-semantics", "%s completed with actions %v and compensations %v", name, steps(acts), got)
		}
	case saga.StatusCompensated:
		if m == len(sagaSteps) || !slices.Equal(got, want) {
			viol.add("saga-semantics", "%s compensated with actions %v and compensations %v (want %v)", name, steps(acts), got, want)
		}
	case saga.StatusCancelled:
		if len(got) > len(want) || !slices.Equal(got, want[:len(got)]) {
			viol.add("saga-semantics", "%s cancelled with actions %v and compensations %v (want a prefix of %v)", name, steps(acts), got, want)
		}
	}
	// Never a step twice after it was recorded complete.
	completed := map[string]int{}
	for _, h := range d.History {
		if h.Outcome == saga.OutcomeCompleted {
			completed[string(h.Phase)+" "+h.Step]++
		}
	}
	for k, n := range completed {
		if n > 1 {
			viol.add("saga-step-completed-twice", "%s: %s recorded completed %d times", name, k, n)
		}
	}
	ev.checkPlan(d, m, rec, viol, res)
}

// checkPlan checks that a saga the operator left alone ended as its plan
// said: completed, or compensated after the failing step.
func (ev *evidence) checkPlan(d saga.Details, m int, rec operatorRecord, viol *violations, res *SagaResult) {
	in := d.Instance
	if _, ok := rec.cancelled[in.ID]; ok || !in.Status.Terminal() {
		return
	}
	var st sagaState
	if err := json.Unmarshal(in.State, &st); err != nil {
		viol.add("saga-state", "%s: state %s does not decode: %v", in.CorrelationID, in.State, err)
		return
	}
	wantStatus, wantM := saga.StatusCompleted, len(sagaSteps)
	if st.Plan.FailAt > 0 {
		wantStatus, wantM = saga.StatusCompensated, st.Plan.FailAt-1
	}
	if in.Status == wantStatus && m == wantM {
		return
	}
	for _, h := range d.History {
		if h.Outcome == saga.OutcomeFailed && !injectedError(h.Error) {
			res.Environmental++
			return
		}
	}
	viol.add("saga-unexpected-outcome", "%s (plan %+v) is %s after %d actions; want %s after %d", in.CorrelationID, st.Plan,
		in.Status, m, wantStatus, wantM)
}

// steps lists effects' step numbers in their order.
func steps(es []sagaEffect) []int {
	out := make([]int, len(es))
	for i, e := range es {
		out[i] = e.Step
	}
	return out
}
