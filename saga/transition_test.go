package saga

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/causewayhq/causeway/worker"
)

// TestGarciaMolinaSalemProperties drives the state machine through every
// saga of 1 to 5 steps (with and without compensations on each step), every
// failing step k (or none) and every failing compensation (or none), and
// checks the executed sequence is exactly T1 … T(k-1) then C(k-1) … C1
// (skipping steps without compensation; stopping, failed, at a compensation
// that fails for good), that no compensation runs for a step that did not
// complete, and that no step runs again once it was recorded complete.
func TestGarciaMolinaSalemProperties(t *testing.T) {
	cases := 0
	for n := 1; n <= 5; n++ {
		for mask := 0; mask < 1<<n; mask++ { // which steps have a compensation
			steps := make([]stepInfo, n)
			for i := range steps {
				steps[i] = stepInfo{name: fmt.Sprintf("T%d", i+1), hasCompensation: mask&(1<<i) != 0,
					retry:     worker.RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Millisecond},
					compRetry: worker.RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Millisecond}, timeout: time.Second}
			}
			for k := 0; k <= n; k++ { // k = 0: nothing fails
				for c := 0; c <= n; c++ { // c = 0: no compensation fails
					cases++
					checkScript(t, steps, k, c)
				}
			}
		}
	}
	t.Logf("%d scripts checked", cases)
}

func checkScript(t *testing.T, steps []stepInfo, failStep, failComp int) {
	t.Helper()
	n := len(steps)
	now := time.Unix(1000, 0)
	inst := Instance{Status: StatusRunning, State: []byte(`{}`)}
	inst.enterStep(steps, 0, now)
	var executed []string
	completed := map[int]bool{}
	for i := 0; i < 1000 && !inst.Status.Terminal() && inst.Status != StatusFailed; i++ {
		var r result
		switch inst.Status {
		case StatusRunning:
			if completed[inst.Step] {
				t.Fatalf("step T%d runs again after completing", inst.Step+1)
			}
			if inst.Step+1 == failStep {
				r = result{err: "boom"}
			} else {
				r = result{ok: true, state: []byte(`{}`)}
				executed = append(executed, fmt.Sprintf("T%d", inst.Step+1))
				completed[inst.Step] = true
			}
		case StatusCompensating:
			if !completed[inst.Step] {
				t.Fatalf("compensation C%d of a step that never completed", inst.Step+1)
			}
			if !steps[inst.Step].hasCompensation {
				t.Fatalf("compensating T%d, which has no compensation", inst.Step+1)
			}
			if inst.Step+1 == failComp {
				r = result{err: "undo failed"}
			} else {
				r = result{ok: true, state: []byte(`{}`)}
				executed = append(executed, fmt.Sprintf("C%d", inst.Step+1))
				completed[inst.Step] = false
			}
		}
		now = now.Add(time.Second)
		inst, _ = advance(inst, steps, r, now)
	}

	var want []string
	wantStatus := StatusCompleted
	last := n
	if failStep > 0 {
		last = failStep - 1
		wantStatus = StatusCompensated
	}
	for i := 1; i <= last; i++ {
		want = append(want, fmt.Sprintf("T%d", i))
	}
	if failStep > 0 {
		for i := last; i >= 1; i-- {
			if !steps[i-1].hasCompensation {
				continue
			}
			if i == failComp {
				wantStatus = StatusFailed
				break
			}
			want = append(want, fmt.Sprintf("C%d", i))
		}
	}
	if !slices.Equal(executed, want) || inst.Status != wantStatus {
		t.Fatalf("n=%d comps=%v fail T%d, C%d: executed %v (%s), want %v (%s)",
			n, compMask(steps), failStep, failComp, executed, inst.Status, want, wantStatus)
	}
}

func compMask(steps []stepInfo) []bool {
	var out []bool
	for _, s := range steps {
		out = append(out, s.hasCompensation)
	}
	return out
}

func TestRetryAfterFollowsPolicy(t *testing.T) {
	p := worker.RetryPolicy{MaxAttempts: 3, InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}
	w1, ok1 := retryAfter(p, 1, false)
	w2, ok2 := retryAfter(p, 2, false)
	_, ok3 := retryAfter(p, 3, false)
	if !ok1 || !ok2 || ok3 || w1 != 100*time.Millisecond || w2 != 200*time.Millisecond {
		t.Fatalf("waits %v %v %v %v %v", w1, ok1, w2, ok2, ok3)
	}
	if _, ok := retryAfter(p, 1, true); ok {
		t.Fatal("permanent error retried")
	}
}
