package reliability

import (
	"github.com/google/uuid"

	"github.com/causewayhq/causeway/worker"
)

// Causes of re-deliveries. The first four are allowed: at-least-once
// means a consumer that dies (or loses its database) before its checkpoint
// flush hands the unflushed events over again. The others are violations:
// a graceful stop or a hand-over between live members re-delivers nothing.
const (
	dupPGCrash    = "pg-crash"
	dupPGRestart  = "pg-restart"
	dupKill       = "sigkill"
	dupDied       = "consumer-died"
	dupGraceful   = "graceful-stop"
	dupLive       = "live-handover"
	dupSameMember = "same-member"
)

var allowedDup = map[string]bool{dupPGCrash: true, dupPGRestart: true, dupKill: true, dupDied: true}

// DeliveryResult is what the oracle found in the at-least-once
// subscription's deliveries.
type DeliveryResult struct {
	Events            int            `json:"events"`
	Expected          int            `json:"expected"`
	Deliveries        int            `json:"deliveries"`
	Lost              int            `json:"lost"`
	Duplicates        int            `json:"duplicates"`
	DuplicatesByCause map[string]int `json:"duplicates_by_cause,omitempty"`
	DeadLettered      int            `json:"dead_lettered"`
	Discarded         int            `json:"discarded"`
}

// checkDeliveries checks the at-least-once subscription: no event lost
// (except discarded and dead ones), duplicates counted by cause (allowed
// only after a kill or a PostgreSQL crash/restart), and per-key order: the
// first delivery of each version comes after the first delivery of the
// stream's previous version.
func (ev *evidence) checkDeliveries(viol *violations) DeliveryResult {
	x := ev.exclusions(aloName)
	res := DeliveryResult{DeadLettered: len(ev.dls[aloName]), Discarded: len(x.discarded), Deliveries: len(ev.deliveries),
		DuplicatesByCause: map[string]int{}}
	rows := map[uuid.UUID][]effectRow{}
	for _, r := range ev.deliveries {
		if _, ok := ev.byID[r.EventID]; !ok {
			viol.add("at-least-once-phantom", "%s v%d (event %s) delivered to %s but not in the log (a rolled-back append?)",
				r.Stream, r.Version, short(r.EventID), r.Member)
			continue
		}
		rows[r.EventID] = append(rows[r.EventID], r) // in seq order
	}
	for stream, events := range ev.items {
		var prev *effectRow
		prevVersion := int64(0)
		for _, e := range events {
			res.Events++
			got := rows[e.ID]
			if why := x.why(e); why != "" {
				if len(got) > 0 {
					viol.add("at-least-once-delivered-excluded", "%s v%d (%s) delivered to %s although %s",
						stream, e.Version, short(e.ID), got[0].Member, why)
				}
				continue
			}
			res.Expected++
			if len(got) == 0 {
				res.Lost++
				viol.add("at-least-once-lost", "%s v%d (event %s, partition %d, poison %q) never delivered",
					stream, e.Version, short(e.ID), worker.PartitionOf(stream, worker.DefaultPartitions), poisonOf(e))
				continue
			}
			for i := 1; i < len(got); i++ {
				c := ev.dupCause(got[i-1], got[i])
				res.Duplicates++
				res.DuplicatesByCause[c]++
				if !allowedDup[c] {
					viol.add("at-least-once-duplicate-"+c, "%s v%d delivered to %s at %s and again to %s at %s",
						stream, e.Version, got[i-1].Member, got[i-1].At.Format("15:04:05.000"), got[i].Member, got[i].At.Format("15:04:05.000"))
				}
			}
			if prev != nil && got[0].Seq < prev.Seq {
				viol.add("at-least-once-order", "%s: v%d first delivered (to %s at %s, seq %d) before v%d (to %s at %s, seq %d)",
					stream, e.Version, got[0].Member, got[0].At.Format("15:04:05.000"), got[0].Seq,
					prevVersion, prev.Member, prev.At.Format("15:04:05.000"), prev.Seq)
			}
			prev, prevVersion = &got[0], e.Version
		}
	}
	ev.checkDeadLetters(aloName, viol)
	return res
}

// dupCause names why b re-delivered what a had delivered.
func (ev *evidence) dupCause(a, b effectRow) string {
	switch cause(ev.marks, a.At, b.At, a.Member, clockSlack, ev.leaseLead) {
	case FaultPGCrash:
		return dupPGCrash
	case FaultPGRestart:
		return dupPGRestart
	case FaultKill:
		return dupKill
	case eventDied:
		return dupDied
	case FaultLeave, eventStopped:
		return dupGraceful
	}
	if a.Member == b.Member {
		return dupSameMember
	}
	return dupLive
}
