package reliability

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/causewayhq/causeway/runtime/ops"
	"github.com/causewayhq/causeway/saga"
	sagapg "github.com/causewayhq/causeway/saga/postgres"
)

// settler waits, once faults stop, until every subscription has caught up
// and every saga has finished (or the time is up), with the operator
// resolving dead letters and failed sagas meanwhile.
type settler struct {
	ops      *ops.Ops
	sagas    *sagapg.Store
	c        *consumer
	op       *operator // nil when operator actions are off
	fleet    *fleet
	timeout  time.Duration
	progress func(format string, args ...any)
}

// settle returns whether everything settled, and what was outstanding
// when it did not.
func (s *settler) settle(ctx context.Context) (bool, string) {
	deadline := time.Now().Add(s.timeout)
	var last string
	stable := 0
	for {
		if err := s.fleet.ensure(ctx, 1); err != nil {
			return false, err.Error()
		}
		if s.op != nil {
			s.op.act(ctx, true)
		}
		sig, outstanding := s.check(ctx)
		if outstanding == "" && sig == last {
			stable++
		} else {
			stable = 0
		}
		last = sig
		// Settled: nothing outstanding and nothing moved for two rounds
		// (a checkpoint can pass events that were never handled; the
		// oracle, not this wait, judges that).
		if stable >= 2 {
			return true, ""
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false, outstanding
		}
		if stable == 0 {
			s.progress("settling: %s", orNone(outstanding, "quiet, confirming"))
		}
		if sleep(ctx, time.Second) != nil {
			return false, outstanding
		}
	}
}

// check returns a signature of the recorded effects (to see whether they
// still change) and what is outstanding ("" when nothing).
func (s *settler) check(ctx context.Context) (string, string) {
	var out []string
	for _, name := range subscriptionNames {
		st, err := s.ops.Subscription(ctx, name)
		if err != nil {
			out = append(out, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		if st.LagEvents > 0 {
			out = append(out, fmt.Sprintf("%s %d events behind", name, st.LagEvents))
		}
		if s.op != nil && st.DeadLetters > 0 {
			out = append(out, fmt.Sprintf("%s has %d dead letters", name, st.DeadLetters))
		}
	}
	n, err := s.sagas.Count(ctx, sagaName)
	if err != nil {
		out = append(out, "count sagas: "+err.Error())
	} else {
		open := n[saga.StatusRunning] + n[saga.StatusWaiting] + n[saga.StatusCompensating]
		if s.op != nil {
			open += n[saga.StatusFailed]
		}
		if open > 0 {
			out = append(out, fmt.Sprintf("%d sagas not finished", open))
		}
	}
	var a, d, e int64
	t := s.c.tables
	err = s.c.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM `+t.applied+`), (SELECT count(*) FROM `+t.deliveries+`),
		(SELECT coalesce(sum(runs), 0) FROM `+t.effects+`)`).Scan(&a, &d, &e)
	if err != nil {
		out = append(out, "count effects: "+err.Error())
	}
	return fmt.Sprintf("%d/%d/%d/%s", a, d, e, strings.Join(out, ";")), strings.Join(out, "; ")
}

func orNone(s, none string) string {
	if s == "" {
		return none
	}
	return s
}
