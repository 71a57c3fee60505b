package reliability

import (
	"sync"
	"time"
)

// Timeline entry kinds besides the fault kinds.
const (
	eventDied    = "died"    // a consumer exited without being told to
	eventStopped = "stopped" // the final graceful stop of a consumer
	eventPGUp    = "pg-up"   // PostgreSQL accepts connections again
)

// mark is one thing that happened to the system, for attributing
// duplicates and re-runs to their cause.
type mark struct {
	At     time.Time
	Kind   string
	Member string // the consumer it happened to, "" for PostgreSQL
}

// timeline records marks; safe for concurrent use.
type timeline struct {
	mu    sync.Mutex
	marks []mark
}

func (t *timeline) add(kind, member string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.marks = append(t.marks, mark{At: time.Now(), Kind: kind, Member: member})
}

// snapshot returns the marks in order.
func (t *timeline) snapshot() []mark {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]mark(nil), t.marks...)
}

// memberLead is how long before its first delivery a consumer's stop may
// have begun: a stopping consumer finishes its in-flight work first.
const memberLead = 15 * time.Second

// cause names what explains work done by fromMember at t1 being done again
// at t2: a PostgreSQL crash or restart, or that member being killed, dying
// or stopping (a graceful stop may have begun shortly before t1), in that
// precedence; "" when nothing did (a live hand-over). slack widens the
// window for clock differences.
//
// A PostgreSQL outage explains re-deliveries until leaseLead after it ended
// (its pg-up mark): a member that could not renew while the database was
// away may find its lease expired and taken when it comes back, and then
// hands over what it had not committed; that is the lease doing its job,
// not a hand-over between live members.
func cause(marks []mark, t1, t2 time.Time, fromMember string, slack, leaseLead time.Duration) string {
	rank := map[string]int{FaultPGCrash: 5, FaultPGRestart: 4, FaultKill: 3, eventDied: 2, FaultLeave: 1, eventStopped: 1}
	found := ""
	for i, m := range marks {
		from := t1.Add(-slack)
		switch m.Kind {
		case FaultPGCrash, FaultPGRestart:
			if up := pgUpAfter(marks[i+1:], m.At); !up.Add(leaseLead).Before(from) {
				from = m.At // the outage, and the leases it let expire, still explain it
			}
		case FaultKill, eventDied, FaultLeave, eventStopped:
			if m.Member != fromMember {
				continue
			}
			from = t1.Add(-memberLead)
		default:
			continue
		}
		if m.At.Before(from) || m.At.After(t2.Add(slack)) {
			continue
		}
		if rank[m.Kind] > rank[found] {
			found = m.Kind
		}
	}
	return found
}

// pgUpAfter is when PostgreSQL accepted connections again after a fault at
// t (the first pg-up mark among later), or t if none was recorded.
func pgUpAfter(later []mark, t time.Time) time.Time {
	for _, m := range later {
		if m.Kind == eventPGUp {
			return m.At
		}
	}
	return t
}
