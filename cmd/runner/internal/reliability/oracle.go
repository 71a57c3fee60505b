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

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	pgstore "github.com/causewayhq/causeway/eventlog/postgres"
)

// clockSlack widens time windows when attributing a re-delivery to a
// fault: fault times come from this process's clock, deliveries from the
// server's.
const clockSlack = 500 * time.Millisecond

// logEvent is an event of the log, as the oracle sees it.
type logEvent struct {
	ID      uuid.UUID
	Stream  string
	Version int64
	Type    string
	Data    json.RawMessage
}

// effectRow is a recorded handler effect: a projection row or a delivery.
type effectRow struct {
	EventID uuid.UUID
	Stream  string
	Version int64
	Seq     int64
	Member  string
	At      time.Time
}

// evidence is everything the oracle judges, read after the consumers
// stopped.
type evidence struct {
	items      map[string][]logEvent // rel streams, in version order
	requests   []logEvent            // saga requests
	byID       map[uuid.UUID]logEvent
	applied    []effectRow
	deliveries []effectRow
	dls        map[string][]checkpoint.DeadLetter // by subscription
	discarded  map[string]map[uuid.UUID]bool
	reported   map[string]bool // dead letters the operator reported as unexpected
	marks      []mark
	// leaseLead is how long after a PostgreSQL outage ends a lease it let
	// expire can still be taken over (see cause).
	leaseLead time.Duration
}

// readLog reads every workload event with the store's own reader (the
// system is quiet now, so it must see all of them) and checks the count
// against a plain count of the events table.
func readLog(ctx context.Context, log *pgstore.Store, pool *pgxpool.Pool, schema string, viol *violations) (*evidence, error) {
	ev := &evidence{items: map[string][]logEvent{}, byID: map[uuid.UUID]logEvent{}}
	n := 0
	for e, err := range log.ReadAll(ctx, eventlog.Start, eventlog.Filter{Categories: []string{itemCategory, sagaCategory}}) {
		if err != nil {
			return nil, fmt.Errorf("read the log: %w", err)
		}
		le := logEvent{ID: e.ID, Stream: e.StreamID, Version: e.Version, Type: e.Type, Data: e.Data}
		var mark struct {
			RolledBack bool `json:"rb"`
		}
		if json.Unmarshal(e.Data, &mark) == nil && mark.RolledBack {
			viol.add("rolled-back-visible", "%s v%d (event %s) was appended in a transaction that rolled back, yet it is in the log",
				e.StreamID, e.Version, short(e.ID))
		}
		ev.byID[e.ID] = le
		n++
		if e.Category() == sagaCategory {
			ev.requests = append(ev.requests, le)
		} else {
			ev.items[e.StreamID] = append(ev.items[e.StreamID], le)
		}
	}
	for _, s := range ev.items {
		slices.SortFunc(s, func(a, b logEvent) int { return cmp.Compare(a.Version, b.Version) })
	}
	var stored int
	err := pool.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{schema, "events"}.Sanitize()+
		` WHERE category = ANY($1)`, []string{itemCategory, sagaCategory}).Scan(&stored)
	if err != nil {
		return nil, fmt.Errorf("count events: %w", err)
	}
	if stored != n {
		viol.add("log-read-incomplete", "ReadAll from the start returned %d events; the events table holds %d", n, stored)
	}
	return ev, nil
}

// readEffects reads a table of effectRows in seq order.
func readEffects(ctx context.Context, pool *pgxpool.Pool, table string) ([]effectRow, error) {
	rows, err := pool.Query(ctx, `SELECT event_id, stream, version, seq, member, at FROM `+table+` ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (effectRow, error) {
		var e effectRow
		err := r.Scan(&e.EventID, &e.Stream, &e.Version, &e.Seq, &e.Member, &e.At)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	return out, nil
}

// poisonOf returns an item's poison kind.
func poisonOf(e logEvent) string {
	var it item
	_ = json.Unmarshal(e.Data, &it)
	return it.Poison
}

// exclusions are, for one subscription, the events it must not have
// handled: discarded by the operator, still dead-lettered, or behind a
// dead letter of their stream.
type exclusions struct {
	discarded map[uuid.UUID]bool
	dead      map[uuid.UUID]checkpoint.DeadLetter
	firstDead map[string]int64 // stream → lowest dead-lettered version
}

func (ev *evidence) exclusions(sub string) exclusions {
	x := exclusions{discarded: ev.discarded[sub], dead: map[uuid.UUID]checkpoint.DeadLetter{}, firstDead: map[string]int64{}}
	for _, d := range ev.dls[sub] {
		x.dead[d.EventID] = d
		if v, ok := x.firstDead[d.StreamID]; !ok || d.Version < v {
			x.firstDead[d.StreamID] = d.Version
		}
	}
	return x
}

// why returns why e must not have been handled, or "".
func (x exclusions) why(e logEvent) string {
	switch {
	case x.discarded[e.ID]:
		return "discarded"
	case x.dead[e.ID].ID != 0 && parked(x.dead[e.ID]):
		return "parked behind a dead letter"
	case x.dead[e.ID].ID != 0:
		return "dead-lettered"
	}
	if v, ok := x.firstDead[e.Stream]; ok && e.Version > v {
		return fmt.Sprintf("behind dead letter v%d", v)
	}
	return ""
}

// checkDeadLetters checks a subscription's dead letters: each is a
// committed event, and each that is not parked failed on purpose (unless
// the operator saw and reported it already).
func (ev *evidence) checkDeadLetters(sub string, viol *violations) {
	for _, d := range ev.dls[sub] {
		if ev.reported[fmt.Sprintf("%s/%d", sub, d.ID)] {
			continue
		}
		e, ok := ev.byID[d.EventID]
		if !ok {
			viol.add("dead-letter-phantom", "%s: dead letter %d for event %s (%s v%d) that is not in the log", sub, d.ID, d.EventID, d.StreamID, d.Version)
			continue
		}
		if !parked(d) && !retrying(d) && !injectedError(d.Error) {
			viol.add("dead-letter-unexpected", "%s: %s v%d (poison %q) dead-lettered after %d attempts: %s",
				sub, e.Stream, e.Version, poisonOf(e), d.Attempts, firstLine(d.Error))
		}
	}
}

func injectedError(s string) bool { return strings.Contains(s, errInjected) }

func firstLine(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

func short(id uuid.UUID) string { return id.String()[:8] }
