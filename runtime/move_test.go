package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/internal/obstest"
	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/runtime"
	"github.com/causewayhq/causeway/worker"
)

// postJSON posts body to the env's API with an actor header ("" for none).
func (e *apiEnv) postJSON(path, body, actor string) apiResp {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if actor != "" {
		req.Header.Set("X-Causeway-Actor", actor)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return apiResp{code: resp.StatusCode, header: resp.Header, body: b}
}

type apiMove struct {
	ID                 int64  `json:"id"`
	Subscription       string `json:"subscription"`
	FromMin            string `json:"from_min"`
	FromMax            string `json:"from_max"`
	To                 string `json:"to"`
	Target             string `json:"target"`
	RequestedBy        string `json:"requested_by"`
	RequestedAt        string `json:"requested_at"`
	DeadLettersDeleted int    `json:"dead_letters_deleted"`
}

// TestMoveSubscription moves a running subscription through the API and
// the command line. The move to a time is made while the worker holds a
// batch open: that batch is fenced (rolled back) and the worker continues
// from the first event recorded at or after the time — its handler, which
// records every event in the batch's transaction, sees exactly the events
// from there on, once each.
func TestMoveSubscription(t *testing.T) {
	schema, pool := pgtest.NewSchema(t)
	ctx := pgtest.Context(t, 2*time.Minute)
	held, release := make(chan struct{}), make(chan struct{})
	var holdOnce atomic.Bool
	sub := worker.NewSubscription("mover", worker.Partitions(1), worker.Categories("mv"),
		worker.OnAny(func(ctx context.Context, d *worker.Delivery) error {
			if d.Tx == nil {
				return errors.New("no transaction")
			}
			if _, err := d.Tx.Exec(ctx, `INSERT INTO `+schema+`.mover_seen (event_id) VALUES ($1)`, d.Event.ID); err != nil {
				return err
			}
			if d.Event.Type == "Hold" && holdOnce.CompareAndSwap(false, true) {
				close(held) // the batch stays open until the test moves the subscription
				select {
				case <-release:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		}))
	app := runtime.App{Name: "mover", Subscriptions: []worker.Subscription{sub}}
	e := apiOpen(t, app, schema, runtime.Config{MemberID: "mover-1"})
	if _, err := pool.Exec(ctx, `CREATE TABLE `+schema+`.mover_seen (seq bigserial PRIMARY KEY, event_id uuid NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	e.run()

	appendOne := func(stream, typ string) eventlog.Event {
		t.Helper()
		ev, err := eventlog.NewEvent(typ, map[string]string{"stream": stream})
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.r.Log.Append(ctx, stream, eventlog.Any, ev)
		if err != nil {
			t.Fatal(err)
		}
		// The appends' recorded times must differ for the move to a time to
		// mean something (the event is read back once visible).
		time.Sleep(2 * time.Millisecond)
		var got eventlog.Event
		obstest.Eventually(t, 30*time.Second, "the appended event visible", func() (bool, string) {
			var found bool
			got, found, err = eventlog.ReadAt(ctx, e.r.Log, res.Positions[0])
			return found && err == nil, fmt.Sprint(err)
		})
		return got
	}
	seen := func() []uuid.UUID {
		t.Helper()
		rows, err := pool.Query(ctx, `SELECT event_id FROM `+schema+`.mover_seen ORDER BY seq`)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := pgx.CollectRows(rows, pgx.RowTo[[16]byte])
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]uuid.UUID, len(raw))
		for i, b := range raw {
			ids[i] = b
		}
		return ids
	}
	waitSeen := func(what string, want ...eventlog.Event) {
		t.Helper()
		var ids []uuid.UUID
		for _, ev := range want {
			ids = append(ids, ev.ID)
		}
		obstest.Eventually(t, 30*time.Second, what, func() (bool, string) {
			got := seen()
			return slices.Equal(got, ids), fmt.Sprintf("handled %v, want %v", got, ids)
		})
	}

	e1, e2, e3 := appendOne("mv-1", "E"), appendOne("mv-2", "E"), appendOne("mv-3", "E")
	waitSeen("the first events", e1, e2, e3)
	hold := appendOne("mv-4", "Hold")
	select {
	case <-held:
	case <-ctx.Done():
		t.Fatal("the worker never held its batch")
	}

	// Move to the time e2 was recorded, while the batch with the Hold
	// event is open: the checkpoint becomes e1's position.
	r := e.postJSON("/api/subscriptions/mover/move", `{"to": "time", "time": "`+e2.RecordedAt.UTC().Format(time.RFC3339Nano)+`"}`, "ann@ops")
	if r.code != http.StatusOK {
		t.Fatalf("move: %d %s", r.code, r.body)
	}
	var mv apiMove
	r.decode(t, &mv)
	if mv.ID == 0 || mv.Subscription != "mover" || mv.To != e1.Position.String() || mv.FromMin != mv.FromMax ||
		!strings.HasPrefix(mv.Target, "time ") || mv.RequestedBy != "ann@ops" || mv.RequestedAt == "" {
		t.Fatalf("move answer %+v (e1 at %s)", mv, e1.Position)
	}
	close(release) // the held batch commits: fenced, rolled back
	e5 := appendOne("mv-5", "E")
	waitSeen("the events from the first one recorded at or after the time, once each", e1, e2, e3, e2, e3, hold, e5)

	// The move is recorded.
	var list struct{ Moves []apiMove }
	e.expect("GET", "/api/subscriptions/mover/moves", http.StatusOK).decode(t, &list)
	if len(list.Moves) != 1 || list.Moves[0] != mv {
		t.Fatalf("moves %+v, want [%+v]", list.Moves, mv)
	}

	// Bad requests.
	for _, body := range []string{``, `{`, `{"to": "sideways"}`, `{"to": "time"}`, `{"to": "time", "time": "yesterday"}`,
		`{"to": "position", "position": "x"}`, `{"to": "start", "position": "1/1"}`, `{"to": "start", "extra": 1}`,
		`{"to": "position", "position": "999999999/1"}`} {
		if r := e.postJSON("/api/subscriptions/mover/move", body, ""); r.code != http.StatusBadRequest {
			t.Errorf("move with %s: %d %s, want 400", body, r.code, r.body)
		}
	}
	if r := e.postJSON("/api/subscriptions/nope/move", `{"to": "start"}`, ""); r.code != http.StatusNotFound {
		t.Errorf("move of an unknown subscription: %d %s", r.code, r.body)
	}
	e.expect("GET", "/api/subscriptions/nope/moves", http.StatusNotFound)
	e.expect("GET", "/api/subscriptions/mover/moves?limit=0", http.StatusBadRequest)

	// The command line: to a position (the Hold event's), then to the end.
	s := "--schema=" + schema
	code, out, errOut := execute(t, app, "move", "mover", "--to-position", hold.Position.String(), "--by", "bob", s)
	if code != 0 || !strings.Contains(out, "moved mover from "+e5.Position.String()+" to "+hold.Position.String()) {
		t.Fatalf("move --to-position: %d %q %q", code, out, errOut)
	}
	e6 := appendOne("mv-6", "E")
	waitSeen("the events after the position", e1, e2, e3, e2, e3, hold, e5, e5, e6)
	if code, out, errOut := execute(t, app, "move", "mover", "--to-end", s); code != 0 || !strings.Contains(out, " to "+e6.Position.String()+" (end)") {
		t.Fatalf("move --to-end: %d %q %q", code, out, errOut)
	}
	e7 := appendOne("mv-7", "E")
	waitSeen("the events after the end", e1, e2, e3, e2, e3, hold, e5, e5, e6, e7)
	code, out, _ = execute(t, app, "moves", "mover", s)
	if code != 0 || strings.Count(out, "\n") != 4 || !strings.Contains(out, "bob") || !strings.Contains(out, "ann@ops") {
		t.Fatalf("moves: %d %q", code, out)
	}
	code, out, _ = execute(t, app, "moves", s, "--json")
	if code != 0 {
		t.Fatalf("moves --json: %d %q", code, out)
	}
	sameKeys(t, "moves", decodeJSON(t, out), apiJSON(t, e.r, "/api/subscriptions/mover/moves"))
	for _, bad := range [][]string{{"move", "mover"}, {"move", "mover", "--to-start", "--to-end"}, {"move", "--to-start"},
		{"move", "mover", "--to-time", "yesterday"}, {"move", "mover", "--to-position", "x"}} {
		if code, _, errOut := execute(t, app, append(bad, s)...); code != 2 {
			t.Errorf("%q: exit %d %q, want 2", bad, code, errOut)
		}
	}
	if code, _, errOut := execute(t, app, "move", "nope", "--to-start", s); code != 1 || !strings.Contains(errOut, "not found") {
		t.Errorf("move of an unknown subscription: %d %q", code, errOut)
	}
	if code, _, errOut := execute(t, app, "move", "mover", "--to-position", "999999999/1", s); code != 1 || !strings.Contains(errOut, "past the log's head") {
		t.Errorf("move past the head: %d %q", code, errOut)
	}
}

// TestMoveDeadLetters: after a move back, the dead letter of an event after
// the new position is gone and the event, delivered again, fails again (a
// new dead letter); the one at or before the position stays as it was.
func TestMoveDeadLetters(t *testing.T) {
	schema, pool := pgtest.NewSchema(t)
	ctx := pgtest.Context(t, 2*time.Minute)
	sub := worker.NewSubscription("mover_dl", worker.Partitions(1), worker.Categories("dl"),
		worker.OnAny(func(ctx context.Context, d *worker.Delivery) error {
			if d.Event.Type == "Bad" {
				return worker.Permanent(errors.New("bad event"))
			}
			// Recorded in the batch's transaction: a batch rolled back
			// around a failing event records nothing.
			_, err := d.Tx.Exec(ctx, `INSERT INTO `+schema+`.mover_dl_handled (event_id) VALUES ($1)`, d.Event.ID)
			return err
		}))
	e := apiOpen(t, runtime.App{Name: "mover-dl", Subscriptions: []worker.Subscription{sub}}, schema, runtime.Config{MemberID: "mover-dl-1"})
	if _, err := pool.Exec(ctx, `CREATE TABLE `+schema+`.mover_dl_handled (event_id uuid NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	e.run()
	handled := func() (n int) {
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM `+schema+`.mover_dl_handled`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	var pos []eventlog.Position
	for i, typ := range []string{"Good", "Bad", "Good", "Bad", "Good"} {
		ev, _ := eventlog.NewEvent(typ, map[string]int{"i": i})
		res, err := e.r.Log.Append(ctx, fmt.Sprintf("dl-%d", i), eventlog.Any, ev)
		if err != nil {
			t.Fatal(err)
		}
		pos = append(pos, res.Positions[0])
	}
	dlsAt := func() map[string]int64 {
		out := map[string]int64{}
		r := e.call("GET", "/api/dead-letters?subscription=mover_dl")
		if r.code == http.StatusNotFound {
			return out // the runner has not registered it yet
		}
		var v apiDeadLetters
		r.decode(t, &v)
		for _, d := range v.DeadLetters {
			out[d.Position] = d.ID
		}
		return out
	}
	var before map[string]int64
	obstest.Eventually(t, 30*time.Second, "two dead letters and three events handled", func() (bool, string) {
		before = dlsAt()
		return len(before) == 2 && handled() == 3, fmt.Sprintf("dead letters %v, handled %d", before, handled())
	})
	r := e.postJSON("/api/subscriptions/mover_dl/move", `{"to": "position", "position": "`+pos[2].String()+`"}`, "")
	if r.code != http.StatusOK {
		t.Fatalf("move: %d %s", r.code, r.body)
	}
	var mv apiMove
	r.decode(t, &mv)
	if mv.DeadLettersDeleted != 1 || mv.RequestedBy != "api" {
		t.Fatalf("move %+v", mv)
	}
	obstest.Eventually(t, 30*time.Second, "the event after the position dead-lettered again", func() (bool, string) {
		after := dlsAt()
		first, second := pos[1].String(), pos[3].String()
		ok := len(after) == 2 && after[first] == before[first] && after[second] != 0 && after[second] != before[second] &&
			handled() == 4
		return ok, fmt.Sprintf("dead letters %v (before %v), handled %d", after, before, handled())
	})
}
