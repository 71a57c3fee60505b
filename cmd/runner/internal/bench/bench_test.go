package bench

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/causewayhq/causeway/internal/pgtest"
)

func TestMain(m *testing.M) {
	MaybeRunChild()
	pgtest.Main(m)
}

func TestOrderJSON(t *testing.T) {
	for _, size := range []int{0, 100, 240, 1000} {
		b := OrderJSON(42, 1234567890, size)
		if !json.Valid(b) {
			t.Fatalf("size %d: invalid JSON %s", size, b)
		}
		if size >= 260 && len(b) != size || len(b) < size {
			t.Errorf("size %d: got %d bytes", size, len(b))
		}
		n, sent, ok := sentAt(b)
		if !ok || n != 42 || sent != 1234567890 {
			t.Errorf("sentAt = %d, %d, %v", n, sent, ok)
		}
	}
	data, meta := EventSize(240)
	if data != 240 || meta < 50 {
		t.Errorf("EventSize = %d, %d", data, meta)
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[float64]time.Duration{50: 50 * time.Millisecond, 99: 99 * time.Millisecond, 100: 100 * time.Millisecond, 1: time.Millisecond} {
		if got := Percentile(ds, p); got != want {
			t.Errorf("p%v = %v, want %v", p, got, want)
		}
	}
	if Percentile(nil, 50) != 0 {
		t.Error("empty percentile not 0")
	}
}

func TestResultJSON(t *testing.T) {
	r := withBaseline(Result{Scenario: "x", Events: 10, Seconds: 1, EventsPerS: 10}, Result{Scenario: "x/plain-pgx", Events: 10, Seconds: 0.5, EventsPerS: 20}, 0.7)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"scenario", "events", "seconds", "events_per_s", "baseline", "ratio", "notes"} {
		if _, ok := m[k]; !ok {
			t.Errorf("missing %q in %s", k, b)
		}
	}
	for _, k := range []string{"p50_ms", "p99_ms"} {
		if _, ok := m[k]; ok {
			t.Errorf("%q present in a throughput result: %s", k, b)
		}
	}
	if r.Ratio != 0.5 || !strings.Contains(r.Notes, "MISSED") {
		t.Errorf("ratio %v, notes %q", r.Ratio, r.Notes)
	}
}

// TestScenariosSmoke runs every scenario at a tiny size: it checks that
// they work, not how fast.
func TestScenariosSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	env, err := NewEnv(ctx, pgtest.URL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	env.QuietWait = -1
	small := Options{Events: 300, Warmup: 100, Repetitions: 2, Concurrency: 4, Streams: 40, BatchSize: 50}
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			opts := small
			want := 1
			switch name {
			case ScenarioLatency:
				opts = Options{Events: 40, Warmup: 20, Rate: 400, Streams: 5}
				want = 2
			case ScenarioWorkerCatchUp:
				opts.Events, opts.BatchSize = 3000, 0
				want = 2
			case ScenarioWorkerUpsert, ScenarioReplay:
				opts.Events, opts.BatchSize = 2000, 0
			case ScenarioRebuild:
				opts.Events, opts.BatchSize, opts.Rate = 2000, 0, 500
			case ScenarioSaga:
				opts = Options{Events: 200, Warmup: 20, Rate: 1000, Repetitions: 2, Parked: 1000}
				want = 4
			case ScenarioQueue:
				opts = Options{Events: 300, Warmup: 20, Rate: 1000, Repetitions: 2, Concurrency: 8, BatchSize: 4}
				want = 2
			case ScenarioDeadLetters:
				opts = Options{Events: 300, Rate: 2000, Repetitions: 1, IdleWindow: 100 * time.Millisecond}
			}
			res, err := Run(ctx, env, name, opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != want {
				t.Fatalf("%d results, want %d", len(res), want)
			}
			for _, r := range res {
				t.Log(r.String())
				t.Log(r.Notes)
				if r.Events <= 0 || r.EventsPerS <= 0 {
					t.Errorf("incomplete result %+v", r)
				}
				switch name {
				case ScenarioSaga:
					parked := r.Scenario == ScenarioSaga+"-parked"
					if parked != (r.Baseline != nil) || parked && r.Ratio <= 0 || r.P50Ms <= 0 || r.P99Ms < r.P50Ms || r.Extra["step_p99_ms"] <= 0 {
						t.Errorf("saga result %+v", r)
					}
					continue
				case ScenarioDeadLetters:
					if r.Baseline == nil || r.P99Ms < r.P50Ms || r.P50Ms <= 0 || r.Baseline.P50Ms <= 0 || r.Extra["p99_ratio"] <= 0 {
						t.Errorf("dead-letters result %+v", r)
					}
					continue
				case ScenarioReplay:
					if r.Extra["heap_peak_mib"] <= 0 {
						t.Errorf("no memory figures in %+v", r)
					}
				case ScenarioRebuild:
					for _, x := range []*Result{&r, r.Baseline} {
						if x == nil || x.Extra["heap_peak_mib"] <= 0 || x.Extra["reader_reads_per_s"] <= 0 || x.Extra["reader_p99_ms"] <= 0 {
							t.Errorf("no memory or live reader figures in %+v", x)
						}
					}
				}
				if r.Baseline == nil || r.Baseline.EventsPerS <= 0 {
					t.Errorf("no baseline in %+v", r)
				}
				latency := name == ScenarioLatency || r.Scenario == ScenarioQueue+"-latency"
				if latency && (r.P50Ms <= 0 || r.P99Ms < r.P50Ms) {
					t.Errorf("latency percentiles %v, %v", r.P50Ms, r.P99Ms)
				}
				if !latency && r.Ratio <= 0 {
					t.Errorf("no ratio in %+v", r)
				}
			}
		})
	}
	// No schema is left behind.
	var n int
	if err := env.Pool.QueryRow(ctx, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'bench\\_%'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d bench schemas left", n)
	}
}

func TestCommandJSON(t *testing.T) {
	var out, errb strings.Builder
	t.Setenv("DATABASE_URL", pgtest.URL(t))
	// Flags after the scenario name, as in `runner bench import --json`.
	profile := filepath.Join(t.TempDir(), "cpu.out")
	err := Command(context.Background(), []string{"-quiet-wait", "0", "import", "--json", "-events", "200", "-warmup", "-1", "-reps", "1", "-cpuprofile", profile}, &out, &errb)
	if err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	if st, err := os.Stat(profile); err != nil || st.Size() == 0 {
		t.Errorf("no CPU profile written: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want an environment line and one result:\n%s", len(lines), out.String())
	}
	var head EnvironmentLine
	if err := json.Unmarshal([]byte(lines[0]), &head); err != nil {
		t.Fatalf("%v\n%s", err, lines[0])
	}
	if head.Type != "environment" || head.Scenario != "environment" || head.Server.Version == "" || head.Machine.Cores == 0 {
		t.Errorf("environment line %+v", head)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &m); err != nil {
		t.Fatalf("%v\n%s", err, lines[1])
	}
	for _, k := range []string{"type", "scenario", "events", "seconds", "events_per_s", "baseline", "ratio", "notes"} {
		if _, ok := m[k]; !ok {
			t.Errorf("missing %q in %s", k, lines[1])
		}
	}
	if m["scenario"] != ScenarioImport || m["type"] != "result" {
		t.Errorf("result line %s", lines[1])
	}
	for _, args := range [][]string{{"nosuch"}, {"import", "-nosuchflag"}, {}} {
		err := Command(context.Background(), args, &out, &errb)
		if _, ok := errors.AsType[*UsageError](err); !ok {
			t.Errorf("bench %q: %v, want a *UsageError", args, err)
		}
	}
}
