package saga_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/saga"
	"github.com/causewayhq/causeway/saga/sagatest"
)

// createScripted creates count scripted sagas directly in the store (as the
// subscription would), with random scripts whose compensations succeed.
func createScripted(t *testing.T, e *pgEnv, count int, rng *rand.Rand) map[string]sagatest.Script {
	t.Helper()
	scripts := map[string]sagatest.Script{}
	for i := 0; i < count; i++ {
		n := 1 + rng.IntN(5)
		s := sagatest.Script{Steps: n, FailAt: rng.IntN(n + 1)}
		corr := fmt.Sprintf("s%03d", i)
		st, _ := json.Marshal(s)
		typ := fmt.Sprintf("effects%d", n)
		inst := saga.Instance{ID: saga.InstanceID(typ, corr), Type: typ, CorrelationID: corr, State: st,
			Status: saga.StatusRunning, NextAttemptAt: time.Now()}
		if _, err := e.store.Start(ctxT(t), nil, inst); err != nil {
			t.Fatal(err)
		}
		scripts[corr] = s
	}
	return scripts
}

// checkScripted waits for every saga to end and checks its status and the
// effects: exactly the script's sequence, each once, in order.
func checkScripted(t *testing.T, e *pgEnv, scripts map[string]sagatest.Script, within time.Duration) {
	t.Helper()
	ctx := ctxT(t)
	deadline := time.Now().Add(within)
	for corr, s := range scripts {
		id := saga.InstanceID(fmt.Sprintf("effects%d", s.Steps), corr)
		want, status := sagatest.Expected(s)
		for {
			inst, err := e.store.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if inst.Status.Terminal() || inst.Status == saga.StatusFailed {
				if inst.Status != status {
					t.Fatalf("%s %+v ended %s, want %s (%s)", corr, s, inst.Status, status, inst.LastError)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still %s", corr, inst.Status)
			}
			time.Sleep(10 * time.Millisecond)
		}
		rows, err := e.log.Pool().Query(ctx, `SELECT what FROM `+e.schema+`.effects WHERE saga = $1 ORDER BY seq`, corr)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var w string
			_ = rows.Scan(&w)
			got = append(got, w)
		}
		rows.Close()
		if !slices.Equal(got, want) {
			t.Fatalf("%s %+v: effects %v, want %v", corr, s, got, want)
		}
	}
}

func (e *pgEnv) count(t *testing.T, sql string) int {
	var n int
	if err := e.log.Pool().QueryRow(ctxT(t), sql).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestExecutorSIGKILL: an executor process is killed with SIGKILL at random
// moments while it drives 240 sagas; after the last restart every saga ends
// completed or compensated as its script says, and each step's effect is
// applied once per idempotency key, in order.
func TestExecutorSIGKILL(t *testing.T) {
	e := newPGEnv(t)
	url := pgtest.URL(t)
	if _, err := e.log.Pool().Exec(ctxT(t), effectTables(e.schema)); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 11))
	scripts := createScripted(t, e, 240, rng)
	kills := 0
	for round := 0; round < 12; round++ {
		c := spawnExecutor(t, e, url, fmt.Sprintf("x%d", round), 15*time.Millisecond)
		time.Sleep(time.Duration(150+rng.IntN(500)) * time.Millisecond)
		if err := c.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-c.Done
		kills++
	}
	spawnExecutor(t, e, url, "final", 15*time.Millisecond)
	checkScripted(t, e, scripts, 3*time.Minute)
	execs, effects := e.count(t, `SELECT count(*) FROM `+e.schema+`.executions`), e.count(t, `SELECT count(*) FROM `+e.schema+`.effects`)
	t.Logf("%d SIGKILLs; %d step executions for %d effects (%d re-runs after crashes, absorbed by idempotency keys)",
		kills, execs, effects, execs-effects)
	if execs == effects {
		t.Log("note: no step was caught between its effect and its record this run")
	}
}

// TestTwoExecutorsNeverRunOneSagaAtOnce: two executor processes share 150
// sagas with slow steps; no saga ever runs in both at the same time, and
// all end as scripted.
func TestTwoExecutorsNeverRunOneSagaAtOnce(t *testing.T) {
	e := newPGEnv(t)
	url := pgtest.URL(t)
	if _, err := e.log.Pool().Exec(ctxT(t), effectTables(e.schema)); err != nil {
		t.Fatal(err)
	}
	scripts := createScripted(t, e, 150, rand.New(rand.NewPCG(3, 5)))
	spawnExecutor(t, e, url, "a", 30*time.Millisecond)
	spawnExecutor(t, e, url, "b", 30*time.Millisecond)
	checkScripted(t, e, scripts, 3*time.Minute)
	if n := e.count(t, `SELECT count(*) FROM `+e.schema+`.overlaps`); n != 0 {
		t.Fatalf("%d steps ran while another executor ran the same saga", n)
	}
	// Both processes did work.
	if n := e.count(t, `SELECT count(DISTINCT owner) FROM `+e.schema+`.executions`); n != 2 {
		t.Fatalf("steps ran in %d executor(s), want both", n)
	}
}
