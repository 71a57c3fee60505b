package eventlogtest

import (
	"testing"
	"time"

	"github.com/causewayhq/causeway/eventlog"
)

// testPositionAt checks PositionAt against the recorded times the store
// reports: for every probe time, the answer is the position of the event
// before the first one (in log order) recorded at or after it, Start when
// that is the first event, and the head when there is none.
func testPositionAt(t *testing.T, newStore NewStore) {
	s := newStore(t, Options{})
	ctx := ctxT(t)
	if p, err := s.PositionAt(ctx, time.Now()); err != nil || !p.IsZero() {
		t.Fatalf("empty log: %v, %v; want Start", p, err)
	}
	var last eventlog.AppendResult
	for i := 0; i < 5; i++ {
		events := []eventlog.EventData{ev(t, "E", i)}
		if i == 2 { // two events of one append share their recorded time
			events = append(events, ev(t, "E", "2b"))
		}
		last = mustAppend(t, s, "a-1", eventlog.Any, events...)
		// Let the clock move, so that the appends' times differ and the
		// probes between them are meaningful.
		time.Sleep(2 * time.Millisecond)
	}
	waitVisible(t, s, lastPos(last))
	all := readAll(t, s, eventlog.Start, eventlog.Filter{})
	if len(all) != 6 {
		t.Fatalf("read %d events", len(all))
	}
	want := func(at time.Time) eventlog.Position {
		for j, e := range all {
			if !e.RecordedAt.Before(at) {
				if j == 0 {
					return eventlog.Start
				}
				return all[j-1].Position
			}
		}
		return all[len(all)-1].Position
	}
	probes := []time.Time{all[0].RecordedAt.Add(-time.Hour), all[len(all)-1].RecordedAt.Add(time.Hour)}
	for _, e := range all {
		probes = append(probes, e.RecordedAt, e.RecordedAt.Add(-time.Microsecond), e.RecordedAt.Add(time.Microsecond))
	}
	for _, at := range probes {
		got, err := s.PositionAt(ctx, at)
		if err != nil {
			t.Fatal(err)
		}
		if w := want(at); got != w {
			t.Errorf("PositionAt(%s) = %v, want %v", at.Format(time.RFC3339Nano), got, w)
		}
	}
	// The probes above are only meaningful when the times differ: the
	// third append's time lands before its first event, not on Start.
	if !all[1].RecordedAt.Before(all[2].RecordedAt) {
		t.Fatalf("appends share a recorded time: %v, %v", all[1].RecordedAt, all[2].RecordedAt)
	}
	if got, _ := s.PositionAt(ctx, all[3].RecordedAt); got != all[1].Position {
		t.Errorf("the second event of an append: PositionAt = %v, want the event before the append %v", got, all[1].Position)
	}
	if got, _ := s.PositionAt(ctx, all[5].RecordedAt.Add(time.Microsecond)); got != all[5].Position {
		t.Errorf("after the last event: PositionAt = %v, want the head %v", got, all[5].Position)
	}
}
