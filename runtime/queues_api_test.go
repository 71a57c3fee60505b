package runtime_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/internal/obstest"
	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/runtime"
	"github.com/causewayhq/causeway/worker/queue"
)

func TestManagementAPIQueues(t *testing.T) {
	e := apiOpen(t, queueApp(), "", runtime.Config{APIToken: apiTestToken}) // Migrate declares the queues
	c := fillQueues(t, e.r)
	e.run()
	ctx := pgtest.Context(t, time.Minute)
	time.Sleep(200 * time.Millisecond) // the ready messages wait at least this long
	dl := func(id uuid.UUID) string { return "/api/queues/jobs/dead-letters/" + id.String() }
	unknown := uuid.New()

	t.Run("auth", func(t *testing.T) {
		for _, r := range []struct{ method, path string }{
			{"GET", "/api/queues"},
			{"GET", "/api/queues/jobs"},
			{"GET", "/api/queues/jobs/dead-letters"},
			{"GET", dl(c.dead[0])},
			{"POST", dl(c.dead[0]) + "/requeue"},
			{"DELETE", dl(c.dead[0])},
		} {
			e.expect(r.method, r.path, http.StatusUnauthorized, "-")
			e.expect(r.method, r.path, http.StatusUnauthorized, "Bearer wrong-token")
		}
		// Nothing was done without the token.
		if _, err := e.r.Queues().DeadLetter(ctx, "jobs", c.dead[0]); err != nil {
			t.Fatalf("dead letter after refused calls: %v", err)
		}
	})

	t.Run("list", func(t *testing.T) {
		var v struct {
			Queues []queueJSON `json:"queues"`
		}
		e.expect("GET", "/api/queues", http.StatusOK).decode(t, &v)
		checkQueueList(t, v.Queues, 200*time.Millisecond)
		var one queueJSON
		e.expect("GET", "/api/queues/jobs", http.StatusOK).decode(t, &one)
		if one.Name != "jobs" || one.Depth != 4 || one.Ready != 2 || one.InFlight != 1 || one.DeadLetters != 3 {
			t.Errorf("GET /api/queues/jobs: %+v", one)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		obstest.Eventually(t, 30*time.Second, "the queue gauges", func() (bool, string) {
			fams := obstest.Scrape(t, e.url+"/metrics")
			for _, g := range []struct {
				name, queue string
				want        float64
			}{
				{"causeway_queue_depth", "jobs", 4},
				{"causeway_queue_ready", "jobs", 2},
				{"causeway_queue_in_flight", "jobs", 1},
				{"causeway_queue_dead_letters", "jobs", 3},
				{"causeway_queue_depth", "idle", 0},
				{"causeway_queue_dead_letters", "idle", 0},
				{"causeway_queue_oldest_ready_age_seconds", "idle", 0},
			} {
				if v, ok := obstest.Value(fams, g.name, map[string]string{"queue": g.queue}); !ok || v != g.want {
					return false, fmt.Sprintf("%s{queue=%q} = %v (present %v), want %v", g.name, g.queue, v, ok, g.want)
				}
			}
			if v, ok := obstest.Value(fams, "causeway_queue_oldest_ready_age_seconds", map[string]string{"queue": "jobs"}); !ok || v < 0.2 || v > 60 {
				return false, fmt.Sprintf("oldest ready age of jobs %v (present %v)", v, ok)
			}
			return true, ""
		})
	})

	t.Run("dead letters", func(t *testing.T) {
		var page queueDeadLettersJSON
		e.expect("GET", "/api/queues/jobs/dead-letters?limit=2", http.StatusOK).decode(t, &page)
		if len(page.DeadLetters) != 2 || page.DeadLetters[0].ID != c.dead[0].String() || page.DeadLetters[1].ID != c.dead[1].String() ||
			page.NextAfter != c.dead[1].String() {
			t.Fatalf("first page %+v", page)
		}
		page = queueDeadLettersJSON{}
		e.expect("GET", "/api/queues/jobs/dead-letters?limit=2&after="+c.dead[1].String(), http.StatusOK).decode(t, &page)
		if len(page.DeadLetters) != 1 || page.DeadLetters[0].ID != c.dead[2].String() || page.NextAfter != "" {
			t.Fatalf("last page %+v", page)
		}
		for _, q := range []string{"", "?limit=3"} { // a page that just holds them all has no next
			page = queueDeadLettersJSON{}
			e.expect("GET", "/api/queues/jobs/dead-letters"+q, http.StatusOK).decode(t, &page)
			if len(page.DeadLetters) != 3 || page.NextAfter != "" {
				t.Fatalf("whole list (%s) %+v", q, page)
			}
		}
		page = queueDeadLettersJSON{}
		e.expect("GET", "/api/queues/idle/dead-letters", http.StatusOK).decode(t, &page)
		if page.DeadLetters == nil || len(page.DeadLetters) != 0 {
			t.Fatalf("empty queue's dead letters %s", e.call("GET", "/api/queues/idle/dead-letters").body)
		}

		var d queueDeadLetterJSON
		e.expect("GET", dl(c.dead[0]), http.StatusOK).decode(t, &d)
		if d.ID != c.dead[0].String() || d.Queue != "jobs" || d.Attempts != 1 || !strings.Contains(d.LastError, "mailbox") ||
			len(d.Payload) == 0 || d.EnqueuedAt == "" || d.DeadAt == "" {
			t.Fatalf("dead letter %+v", d)
		}
		if _, err := time.Parse(time.RFC3339, d.DeadAt); err != nil {
			t.Errorf("dead_at %q: %v", d.DeadAt, err)
		}
	})

	t.Run("requeue and discard", func(t *testing.T) {
		var act struct{ Queue, ID, Action, Status string }
		e.expect("POST", dl(c.dead[0])+"/requeue", http.StatusOK).decode(t, &act)
		if act.Queue != "jobs" || act.ID != c.dead[0].String() || act.Action != "requeue" {
			t.Errorf("requeue answer %+v", act)
		}
		ds, err := e.r.Queues().Dequeue(ctx, "jobs", 10, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 3 || !slices.ContainsFunc(ds, func(d queue.Delivery) bool { return d.ID == c.dead[0] && d.Attempts == 1 }) {
			t.Fatalf("dequeued after requeue: %+v", ds)
		}
		e.expect("POST", dl(c.dead[0])+"/requeue", http.StatusNotFound) // live now
		e.expect("GET", dl(c.dead[0]), http.StatusNotFound)

		e.expect("DELETE", dl(c.dead[1]), http.StatusOK).decode(t, &act)
		if act.Action != "discard" || act.ID != c.dead[1].String() {
			t.Errorf("discard answer %+v", act)
		}
		e.expect("DELETE", dl(c.dead[1]), http.StatusNotFound)
		e.expect("GET", dl(c.dead[1]), http.StatusNotFound)
		if dls, err := e.r.Queues().DeadLetters(ctx, "jobs", uuid.Nil, 10); err != nil || len(dls) != 1 || dls[0].ID != c.dead[2] {
			t.Fatalf("dead letters after requeue and discard: %+v, %v", dls, err)
		}
		// The gauges follow: 1 dead, the 3 dequeued above in flight.
		obstest.Eventually(t, 30*time.Second, "the gauges after requeue and discard", func() (bool, string) {
			fams := obstest.Scrape(t, e.url+"/metrics")
			dead, _ := obstest.Value(fams, "causeway_queue_dead_letters", map[string]string{"queue": "jobs"})
			flight, _ := obstest.Value(fams, "causeway_queue_in_flight", map[string]string{"queue": "jobs"})
			return dead == 1 && flight == 4, fmt.Sprintf("%v dead, %v in flight", dead, flight)
		})
	})

	t.Run("not found", func(t *testing.T) {
		for _, r := range []struct{ method, path string }{
			{"GET", "/api/queues/nope"},
			{"GET", "/api/queues/nope/dead-letters"},
			{"GET", "/api/queues/nope/dead-letters/" + unknown.String()},
			{"POST", "/api/queues/nope/dead-letters/" + unknown.String() + "/requeue"},
			{"DELETE", "/api/queues/nope/dead-letters/" + unknown.String()},
			{"GET", dl(unknown)},
			{"POST", dl(unknown) + "/requeue"},
			{"DELETE", dl(unknown)},
			{"GET", dl(c.ready)},                                           // live, not dead
			{"GET", "/api/queues/idle/dead-letters/" + c.dead[2].String()}, // another queue's
		} {
			resp := e.expect(r.method, r.path, http.StatusNotFound)
			if strings.Contains(r.path, "nope") && !strings.Contains(string(resp.body), `unknown queue: \"nope\"`) {
				t.Errorf("%s %s: %s, want it to name the unknown queue", r.method, r.path, resp.body)
			}
		}
	})

	t.Run("malformed", func(t *testing.T) {
		for _, r := range []struct{ method, path string }{
			{"GET", "/api/queues/jobs/dead-letters/42"},
			{"GET", "/api/queues/jobs/dead-letters/not-a-uuid"},
			{"POST", "/api/queues/jobs/dead-letters/x/requeue"},
			{"DELETE", "/api/queues/jobs/dead-letters/x"},
			{"GET", "/api/queues/1bad"},
			{"GET", "/api/queues/bad%20name/dead-letters"},
			{"DELETE", "/api/queues/bad%20name/dead-letters/" + unknown.String()},
			{"GET", "/api/queues/jobs/dead-letters?after=x"},
			{"GET", "/api/queues/jobs/dead-letters?limit=0"},
			{"GET", "/api/queues/jobs/dead-letters?limit=100000"},
			{"GET", "/api/queues/jobs/dead-letters?colour=blue"},
			{"GET", "/api/queues/jobs/dead-letters?limit=1&limit=2"},
			{"GET", "/api/queues?verbose=1"},
			{"POST", dl(c.dead[2]) + "/requeue?now=1"},
		} {
			e.expect(r.method, r.path, http.StatusBadRequest)
		}
		r := e.expect("PUT", dl(c.dead[2]), http.StatusMethodNotAllowed)
		if allow := r.header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "DELETE") {
			t.Errorf("Allow %q", allow)
		}
		e.expect("POST", dl(c.dead[2])+"/discard", http.StatusNotFound) // DELETE discards
	})

	t.Run("name with a slash", func(t *testing.T) {
		if _, err := e.r.Queues().Declare(ctx, "mail/out"); err != nil {
			t.Fatal(err)
		}
		var q queueJSON
		e.expect("GET", "/api/queues/mail%2Fout", http.StatusOK).decode(t, &q)
		if q.Name != "mail/out" {
			t.Errorf("queue %+v", q)
		}
		e.expect("GET", "/api/queues/mail%2Fout/dead-letters", http.StatusOK)
	})
}
