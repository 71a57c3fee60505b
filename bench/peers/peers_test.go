package peers

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/causewayhq/causeway/bench/peers/internal/pgserver"
)

// The smoke test runs every scenario tiny, once per arm, against a
// throwaway server (or DATABASE_URL): every workflow must complete, every
// step's INSERT be there, every event be appended and consumed. The main
// module's CI does not enter this module; run it with
// `cd bench/peers && go test ./...`.

var testURL string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		testURL = os.Getenv("DATABASE_URL")
		if testURL == "" {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			srv, err := pgserver.Start(ctx, pgserver.Options{})
			cancel()
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			defer srv.Close()
			testURL = srv.URL()
		}
		return m.Run()
	}())
}

func tinyEnv(t *testing.T) (*Env, Options) {
	t.Helper()
	env, err := NewEnv(t.Context(), testURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	env.QuietWait = 0 // a smoke test: no waiting, no re-runs
	return env, Options{Reps: 1, Workflows: 40, LatencyWorkflows: 20, LatencyWarmup: 5, Rate: 400, Concurrency: 4,
		Appends: 100, AppendWarmup: 10, Streams: 100, CatchUpEvents: 12_000, RiverFetchCooldown: 10 * time.Millisecond}
}

// checkArms checks that scenario reported every arm in order with want
// units each.
func checkArms(t *testing.T, res []Result, scenario string, arms []string, want int64) {
	t.Helper()
	var got []Result
	for _, r := range res {
		if r.Scenario == scenario {
			got = append(got, r)
		}
	}
	if len(got) != len(arms) {
		t.Fatalf("%s: %d results, want %d (%v)", scenario, len(got), len(arms), arms)
	}
	for i, r := range got {
		if r.Arm != arms[i] || r.Units != want || r.PerS <= 0 {
			t.Errorf("%s result %d: arm %q, %d units at %.0f/s; want arm %q, %d units", scenario, i, r.Arm, r.Units, r.PerS, arms[i], want)
		}
	}
}

func TestWorkflows(t *testing.T) {
	arms := []string{"causeway", "dbos", "river"}
	for _, insert := range []bool{false, true} {
		t.Run(fmt.Sprint("insert=", insert), func(t *testing.T) {
			env, o := tinyEnv(t)
			res, err := Workflows(t.Context(), env, o, insert)
			if err != nil {
				t.Fatal(err) // a workflow not completed, or a step's row missing
			}
			name := "workflow-noop"
			if insert {
				name = "workflow-insert"
			}
			checkArms(t, res, name, arms, int64(o.Workflows))
			checkArms(t, res, name+"-latency", arms, int64(o.LatencyWorkflows))
			for _, r := range res {
				if r.Scenario == name+"-latency" && (r.P50Ms <= 0 || r.P99Ms < r.P50Ms) {
					t.Errorf("%s %s: p50 %.2f ms, p99 %.2f ms", r.Scenario, r.Arm, r.P50Ms, r.P99Ms)
				}
			}
		})
	}
}

func TestAppend(t *testing.T) {
	env, o := tinyEnv(t)
	res, err := Append(t.Context(), env, o)
	if err != nil {
		t.Fatal(err)
	}
	checkArms(t, res, "append", []string{"causeway", "watermill-sql", "plain-pgx"}, int64(o.Appends))
}

func TestCatchUp(t *testing.T) {
	for _, upsert := range []bool{false, true} {
		t.Run(fmt.Sprint("upsert=", upsert), func(t *testing.T) {
			env, o := tinyEnv(t)
			res, err := CatchUp(t.Context(), env, o, upsert)
			if err != nil {
				t.Fatal(err) // an event not consumed, or the read model short
			}
			name := "catchup-noop"
			if upsert {
				name = "catchup-upsert"
			}
			checkArms(t, res, name, []string{"causeway", "watermill-sql", "plain-pgx"}, int64(o.CatchUpEvents))
		})
	}
}
