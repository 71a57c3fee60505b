package reliability

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/causewayhq/causeway/internal/obstest"
	"github.com/causewayhq/causeway/internal/pgtest"
)

// TestMain lets the harness re-execute this test binary as its consumer
// processes. The harness brings its own PostgreSQL (pgtest.StartCluster,
// which it crashes and restarts), so the shared one of pgtest.Main is not
// needed.
func TestMain(m *testing.M) {
	MaybeRunChild()
	os.Exit(m.Run())
}

// TestShortRun is the short run in CI: every fault kind, a fixed seed,
// about a minute of faults, and the oracle must find nothing. It fails on
// the code before the fixes of issue 10 (lost events during membership
// churn, duplicates on live hand-overs, per-key order after operator
// retries, outages dead-lettering events).
func TestShortRun(t *testing.T) {
	cluster := pgtest.StartCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	var progress obstest.Buffer
	sum, err := Run(ctx, Options{
		Cluster:    cluster,
		Duration:   45 * time.Second,
		Seed:       20261203,
		Workers:    3,
		Rate:       100,
		Backlog:    10000,
		Burst:      4000,
		FaultEvery: 1500 * time.Millisecond,
		// Catch-up after the storm takes seconds on an idle machine; the
		// bound is generous because `go test ./...` runs other packages'
		// tests on the same two cores at the same time.
		SettleTimeout: 90 * time.Second,
		Progress:      &progress,
	})
	if err != nil {
		t.Fatalf("harness: %v\n%s", err, progress.String())
	}
	var out strings.Builder
	sum.WriteText(&out)
	t.Logf("progress:\n%s\n%s", progress.String(), out.String())
	// The harness itself: every fault kind was injected, and work was done.
	for _, k := range AllFaults {
		if sum.Injected[k] == 0 {
			t.Errorf("fault kind %s was never injected", k)
		}
	}
	if sum.Projection.Expected == 0 || sum.AtLeastOnce.Expected == 0 || sum.Sagas.Instances == 0 {
		t.Errorf("no work was checked: %+v %+v %+v", sum.Projection, sum.AtLeastOnce, sum.Sagas)
	}
	for _, v := range sum.Violations {
		t.Errorf("violation %s: %d, e.g. %s", v.Kind, v.Count, strings.Join(v.Examples, "; "))
	}
}
