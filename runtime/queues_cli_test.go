package runtime_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/runtime"
	"github.com/causewayhq/causeway/worker/queue"
)

// queueApp declares the test queues: jobs dead-letters a message at its
// first failed attempt; idle stays empty and keeps acked messages.
func queueApp() runtime.App {
	return runtime.App{Name: "qapp", Queues: []queue.Declaration{
		queue.Declare("jobs", queue.MaxAttempts(1), queue.VisibilityTimeout(45*time.Second)),
		queue.Declare("idle", queue.Retention(time.Hour)),
	}}
}

// queueContents are what fillQueues put in jobs.
type queueContents struct {
	dead              []uuid.UUID // by id, as listed
	held, ready, late uuid.UUID   // ready: the first of two
}

// fillQueues gives the queue jobs of queueApp known contents: three dead
// letters, one message in flight, two ready and one delayed (depth 4).
func fillQueues(t *testing.T, r *runtime.Runtime) queueContents {
	t.Helper()
	ctx := pgtest.Context(t, time.Minute)
	q := r.Queues()
	enqueue := func(msgs ...queue.Outgoing) []uuid.UUID {
		t.Helper()
		res, err := q.Enqueue(ctx, "jobs", msgs...)
		if err != nil {
			t.Fatal(err)
		}
		var ids []uuid.UUID
		for _, e := range res {
			ids = append(ids, e.ID)
		}
		return ids
	}
	var c queueContents
	c.dead = enqueue(queue.New(json.RawMessage(`{"n":1}`), queue.Header("kind", "welcome")),
		queue.New(json.RawMessage(`{"n":2}`)), queue.New(json.RawMessage(`{"n":3}`)))
	ds, err := q.Dequeue(ctx, "jobs", 3, 0)
	if err != nil || len(ds) != 3 {
		t.Fatalf("dequeue: %d, %v", len(ds), err)
	}
	for _, d := range ds {
		if dead, err := q.Nack(ctx, d.Receipt, 0, fmt.Errorf("smtp: mailbox %s full\nsecond line", d.ID)); err != nil || !dead {
			t.Fatalf("nack: dead %v, %v", dead, err)
		}
	}
	slices.SortFunc(c.dead, func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) })
	c.held = enqueue(queue.New(json.RawMessage(`{"n":4}`)))[0]
	if ds, err := q.Dequeue(ctx, "jobs", 1, time.Hour); err != nil || len(ds) != 1 || ds[0].ID != c.held {
		t.Fatalf("dequeue the held one: %v, %v", ds, err)
	}
	c.ready = enqueue(queue.New(json.RawMessage(`{"n":5}`)), queue.New(json.RawMessage(`{"n":7}`)))[0]
	c.late = enqueue(queue.New(json.RawMessage(`{"n":6}`), queue.Delay(time.Hour)))[0]
	return c
}

type queueJSON struct {
	Name                     string  `json:"name"`
	Depth                    int64   `json:"depth"`
	Ready                    int64   `json:"ready"`
	InFlight                 int64   `json:"in_flight"`
	DeadLetters              int64   `json:"dead_letters"`
	OldestReadyAgeSeconds    float64 `json:"oldest_ready_age_seconds"`
	VisibilityTimeoutSeconds float64 `json:"visibility_timeout_seconds"`
	MaxAttempts              int     `json:"max_attempts"`
	RetentionSeconds         float64 `json:"retention_seconds"`
}

type queueDeadLetterJSON struct {
	ID         string            `json:"id"`
	Queue      string            `json:"queue"`
	Payload    json.RawMessage   `json:"payload"`
	Headers    map[string]string `json:"headers"`
	Attempts   int               `json:"attempts"`
	EnqueuedAt string            `json:"enqueued_at"`
	DeadAt     string            `json:"dead_at"`
	LastError  string            `json:"last_error"`
}

type queueDeadLettersJSON struct {
	DeadLetters []queueDeadLetterJSON `json:"dead_letters"`
	NextAfter   string                `json:"next_after"`
}

// checkQueueList checks the queues as fillQueues left them; minAge is how
// long the ready message has waited at least.
func checkQueueList(t *testing.T, qs []queueJSON, minAge time.Duration) {
	t.Helper()
	if len(qs) != 2 || qs[0].Name != "idle" || qs[1].Name != "jobs" {
		t.Fatalf("queues %+v, want idle and jobs", qs)
	}
	idle, jobs := qs[0], qs[1]
	if idle != (queueJSON{Name: "idle", VisibilityTimeoutSeconds: 30, MaxAttempts: 5, RetentionSeconds: 3600}) {
		t.Errorf("idle %+v", idle)
	}
	age := jobs.OldestReadyAgeSeconds
	jobs.OldestReadyAgeSeconds = 0
	if jobs != (queueJSON{Name: "jobs", Depth: 4, Ready: 2, InFlight: 1, DeadLetters: 3, VisibilityTimeoutSeconds: 45, MaxAttempts: 1}) {
		t.Errorf("jobs %+v, want depth 4, 2 ready, 1 in flight, 3 dead", jobs)
	}
	if age < minAge.Seconds() || age > 60 {
		t.Errorf("oldest ready age %vs, want at least %v", age, minAge)
	}
}

func TestCLIQueues(t *testing.T) {
	schema, _ := pgtest.NewSchema(t)
	app := queueApp()
	// migrate declares the app's queues.
	if code, out, errOut := execute(t, app, "migrate", "--schema="+schema); code != 0 {
		t.Fatalf("migrate: exit %d %s %s", code, out, errOut)
	}
	ctx := pgtest.Context(t, time.Minute)
	r, err := runtime.Open(ctx, app, runtime.Config{DatabaseURL: pgtest.URL(t), Schema: schema, HTTPAddr: "off", LogLevel: "error",
		LeaseTTL: 2 * time.Second, SagaConcurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	c := fillQueues(t, r)
	s := "--schema=" + schema
	time.Sleep(200 * time.Millisecond) // the ready message waits at least this long

	t.Run("list", func(t *testing.T) {
		code, out, errOut := execute(t, app, "queues", "list", s)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if code != 0 || len(lines) != 3 {
			t.Fatalf("queues list: exit %d\n%s\nstderr %q", code, out, errOut)
		}
		for i, want := range [][]string{
			{"QUEUE", "DEPTH", "READY", "IN", "FLIGHT", "DEAD", "OLDEST", "READY", "VISIBILITY", "MAX", "ATTEMPTS", "RETENTION"},
			{"idle", "0", "0", "0", "0", "-", "30s", "5", "1h0m0s"},
			{"jobs", "4", "2", "1", "3", "*", "45s", "1", "-"},
		} {
			got := strings.Fields(lines[i])
			if len(got) != len(want) {
				t.Fatalf("line %d %q, want %q", i, lines[i], want)
			}
			for j := range want {
				if want[j] != "*" && got[j] != want[j] {
					t.Errorf("line %d %q, want %q", i, lines[i], want)
					break
				}
			}
		}
		var v struct {
			Queues []queueJSON `json:"queues"`
		}
		code, out, _ = execute(t, app, "queues", "list", s, "--json")
		if code != 0 || json.Unmarshal([]byte(out), &v) != nil {
			t.Fatalf("queues list --json: exit %d %s", code, out)
		}
		checkQueueList(t, v.Queues, 200*time.Millisecond)
	})

	t.Run("dead letters page", func(t *testing.T) {
		code, out, errOut := execute(t, app, "queues", "dead", "jobs", s, "--limit", "2")
		if code != 0 || strings.Count(out, "\n") != 3 || !strings.Contains(out, c.dead[0].String()) || !strings.Contains(out, c.dead[1].String()) ||
			!strings.Contains(out, "smtp: mailbox") || strings.Contains(out, "second line") {
			t.Fatalf("queues dead --limit 2: exit %d\n%s", code, out)
		}
		if want := "showing the first 2 dead letters; more match: see the next page with --after " + c.dead[1].String(); !strings.Contains(errOut, want) {
			t.Fatalf("stderr %q, want %q", errOut, want)
		}
		code, out, errOut = execute(t, app, "queues", "dead", "jobs", s, "--limit", "2", "--after", c.dead[1].String())
		if code != 0 || strings.Count(out, "\n") != 2 || !strings.Contains(out, c.dead[2].String()) || errOut != "" {
			t.Fatalf("queues dead --after: exit %d\n%s\nstderr %q; want the last one and no note", code, out, errOut)
		}
		var page queueDeadLettersJSON
		code, out, _ = execute(t, app, "queues", "dead", "jobs", s, "--limit", "1", "--json")
		if code != 0 || json.Unmarshal([]byte(out), &page) != nil || len(page.DeadLetters) != 1 || page.NextAfter != c.dead[0].String() {
			t.Fatalf("queues dead --json: exit %d %s", code, out)
		}
	})

	t.Run("show", func(t *testing.T) {
		var d queueDeadLetterJSON
		code, out, errOut := execute(t, app, "queues", "show", "jobs", c.dead[0].String(), s)
		if code != 0 || json.Unmarshal([]byte(out), &d) != nil {
			t.Fatalf("queues show: exit %d %s %s", code, out, errOut)
		}
		if d.ID != c.dead[0].String() || d.Queue != "jobs" || d.Attempts != 1 ||
			d.LastError != fmt.Sprintf("smtp: mailbox %s full\nsecond line", c.dead[0]) || d.EnqueuedAt == "" || d.DeadAt == "" {
			t.Fatalf("dead letter %+v", d)
		}
		var p struct{ N int }
		if err := json.Unmarshal(d.Payload, &p); err != nil || p.N < 1 || p.N > 3 {
			t.Fatalf("payload %s", d.Payload)
		}
	})

	t.Run("requeue and discard", func(t *testing.T) {
		code, out, errOut := execute(t, app, "queues", "requeue", "jobs", c.dead[0].String(), s)
		if code != 0 || !strings.Contains(out, "requeued") {
			t.Fatalf("queues requeue: exit %d %s %s", code, out, errOut)
		}
		// Deliverable again, beside the two ready ones, with a fresh
		// attempt.
		ds, err := r.Queues().Dequeue(ctx, "jobs", 10, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 3 || !slices.ContainsFunc(ds, func(d queue.Delivery) bool { return d.ID == c.dead[0] && d.Attempts == 1 }) {
			t.Fatalf("dequeued after requeue: %+v", ds)
		}
		if code, _, errOut := execute(t, app, "queues", "requeue", "jobs", c.dead[0].String(), s); code != 1 || !strings.Contains(errOut, "not found") {
			t.Fatalf("requeue of a live message: exit %d %q", code, errOut)
		}
		code, out, errOut = execute(t, app, "queues", "discard", "jobs", c.dead[1].String(), s)
		if code != 0 || !strings.Contains(out, "discarded") {
			t.Fatalf("queues discard: exit %d %s %s", code, out, errOut)
		}
		dls, err := r.Queues().DeadLetters(ctx, "jobs", uuid.Nil, 10)
		if err != nil || len(dls) != 1 || dls[0].ID != c.dead[2] {
			t.Fatalf("dead letters after requeue and discard: %+v, %v", dls, err)
		}
		if _, err := r.Queues().DeadLetter(ctx, "jobs", c.dead[1]); !errors.Is(err, queue.ErrNotFound) {
			t.Fatalf("discarded dead letter: %v", err)
		}
	})

	t.Run("errors", func(t *testing.T) {
		unknown := uuid.New().String()
		for _, tc := range []struct {
			args []string
			code int
			want string
		}{
			{[]string{"queues", "dead", "nope"}, 1, `unknown queue: "nope"`},
			{[]string{"queues", "show", "nope", unknown}, 1, `unknown queue: "nope"`},
			{[]string{"queues", "requeue", "nope", unknown}, 1, `unknown queue: "nope"`},
			{[]string{"queues", "discard", "nope", unknown}, 1, `unknown queue: "nope"`},
			{[]string{"queues", "show", "jobs", unknown}, 1, "dead letter " + unknown + ` in queue "jobs"`},
			{[]string{"queues", "requeue", "jobs", unknown}, 1, "not found"},
			{[]string{"queues", "discard", "jobs", unknown}, 1, "not found"},
			{[]string{"queues", "show", "jobs", c.ready.String()}, 1, "not found"}, // live, not dead
			{[]string{"queues", "show", "jobs", "42"}, 2, `"42" is not a message id`},
			{[]string{"queues", "discard", "jobs", "x"}, 2, "not a message id"},
			{[]string{"queues", "show", "jobs"}, 2, "want QUEUE ID"},
			{[]string{"queues", "dead"}, 2, "want a QUEUE"},
			{[]string{"queues", "dead", "1bad"}, 2, `queue name "1bad"`},
			{[]string{"queues", "dead", "jobs", "--after", "x"}, 2, "not a message id"},
			{[]string{"queues", "dead", "jobs", "--limit", "0"}, 2, "--limit 0"},
			{[]string{"queues", "list", "extra"}, 2, "unexpected arguments"},
			{[]string{"queues", "explode"}, 2, "want a sub-command"},
		} {
			code, _, errOut := execute(t, app, append(tc.args, s)...)
			if code != tc.code || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
				t.Errorf("%v: exit %d, stderr %q; want %d and %q on one line", tc.args, code, errOut, tc.code, tc.want)
			}
		}
	})
}
