package runtime_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/causewayhq/causeway/runtime"
)

// TestAPIRefusesUnstorableText: a NUL byte or invalid UTF-8 in any name,
// key or id of a path or query is the client's mistake (400 with a
// message saying so), never PostgreSQL's error as a 500.
func TestAPIRefusesUnstorableText(t *testing.T) {
	a := &apiTestApp{}
	e := apiOpen(t, a.app(), "", runtime.Config{})
	for _, bad := range []string{"%00", "a%00b", "%FF", "x%C3"} {
		for _, req := range []struct{ method, path string }{
			{"GET", "/api/subscriptions/" + bad},
			{"POST", "/api/projections/" + bad + "/replay"},
			{"GET", "/api/dead-letters?key=" + bad},
			{"GET", "/api/dead-letters?subscription=" + bad},
			{"GET", "/api/dead-letters?subscription=api_orders&key=" + bad},
			{"GET", "/api/dead-letters/" + bad + "/1"},
			{"GET", "/api/dead-letters/api_orders/" + bad},
			{"POST", "/api/dead-letters/" + bad + "/1/retry"},
			{"POST", "/api/dead-letters/api_orders/" + bad + "/discard"},
			{"GET", "/api/sagas?type=" + bad},
			{"GET", "/api/sagas?correlation_id=" + bad},
			{"GET", "/api/sagas?status=" + bad},
			{"GET", "/api/sagas?after=" + bad},
			{"GET", "/api/sagas/" + bad},
			{"POST", "/api/sagas/" + bad + "/cancel"},
			{"GET", "/api/status?" + bad + "=1"},
			{"GET", "/api/queues/" + bad},
			{"GET", "/api/queues/" + bad + "/dead-letters"},
			{"GET", "/api/queues/jobs/dead-letters?after=" + bad},
			{"GET", "/api/queues/jobs/dead-letters/" + bad},
			{"POST", "/api/queues/" + bad + "/dead-letters/6f1c3a52-3c2e-4d8e-9a57-6b9f0c1d2e3f/requeue"},
			{"DELETE", "/api/queues/jobs/dead-letters/" + bad},
		} {
			r := e.expect(req.method, req.path, http.StatusBadRequest)
			if strings.Contains(string(r.body), "SQLSTATE") {
				t.Errorf("%s %s: PostgreSQL's text in the answer: %s", req.method, req.path, r.body)
			}
		}
	}
	r := e.expect("GET", "/api/dead-letters?key=a%00b", http.StatusBadRequest)
	if !strings.Contains(string(r.body), "key") || !strings.Contains(string(r.body), "UTF-8") {
		t.Fatalf("error %s: want it to name the parameter and what is wrong", r.body)
	}
}
