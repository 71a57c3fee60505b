package reliability

import (
	"github.com/google/uuid"

	"github.com/causewayhq/causeway/worker"
)

// ProjectionResult is what the oracle found in the projection's read model.
type ProjectionResult struct {
	Events       int `json:"events"`        // items in the log
	Expected     int `json:"expected"`      // of which must be applied (not discarded or dead)
	Applied      int `json:"applied_rows"`  // rows in the read model
	Lost         int `json:"lost"`          // expected but not applied
	Duplicates   int `json:"duplicates"`    // rows beyond the first of an event
	DeadLettered int `json:"dead_lettered"` // dead letters left (parked ones included)
	Discarded    int `json:"discarded"`
}

// checkProjection compares the read model with a fold of the log: every
// committed item applied exactly once, in per-stream version order, except
// the discarded and dead-lettered ones and those behind a dead letter
// (sequenced dead letters), which must not be applied at all.
func (ev *evidence) checkProjection(viol *violations) ProjectionResult {
	x := ev.exclusions(projName)
	res := ProjectionResult{DeadLettered: len(ev.dls[projName]), Discarded: len(x.discarded)}
	rows := map[uuid.UUID][]effectRow{}
	for _, r := range ev.applied {
		if _, ok := ev.byID[r.EventID]; !ok {
			viol.add("projection-phantom", "%s v%d (event %s) applied by %s but not in the log (a rolled-back append?)",
				r.Stream, r.Version, short(r.EventID), r.Member)
			continue
		}
		rows[r.EventID] = append(rows[r.EventID], r)
	}
	res.Applied = len(ev.applied)
	for stream, events := range ev.items {
		for _, e := range events {
			res.Events++
			got := rows[e.ID]
			if why := x.why(e); why != "" {
				if len(got) > 0 {
					viol.add("projection-applied-excluded", "%s v%d (%s) applied by %s although %s",
						stream, e.Version, short(e.ID), got[0].Member, why)
				}
				continue
			}
			res.Expected++
			switch {
			case len(got) == 0:
				res.Lost++
				viol.add("projection-lost", "%s v%d (event %s, partition %d, poison %q) never applied",
					stream, e.Version, short(e.ID), worker.PartitionOf(stream, worker.DefaultPartitions), poisonOf(e))
			case len(got) > 1:
				res.Duplicates += len(got) - 1
				viol.add("projection-duplicate", "%s v%d applied %d times (by %s)", stream, e.Version, len(got), members(got))
			}
		}
	}
	// Per-stream order: the read model's rows, in the order they were
	// written, go up in version.
	last := map[string]effectRow{}
	for _, r := range ev.applied {
		if p, ok := last[r.Stream]; ok && r.Version <= p.Version {
			viol.add("projection-order", "%s: v%d applied (by %s, seq %d) after v%d (by %s, seq %d)",
				r.Stream, r.Version, r.Member, r.Seq, p.Version, p.Member, p.Seq)
		}
		last[r.Stream] = r
	}
	ev.checkDeadLetters(projName, viol)
	return res
}

// members lists who recorded rows.
func members(rows []effectRow) string {
	s := ""
	for i, r := range rows {
		if i > 0 {
			s += ", "
		}
		s += r.Member
	}
	return s
}
