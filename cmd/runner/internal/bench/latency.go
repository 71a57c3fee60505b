package bench

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/eventlog/postgres"
	"github.com/causewayhq/causeway/internal/benchcpu"
)

// LatencyRun is the outcome of one latency measurement.
type LatencyRun struct {
	Mode      string
	Sent      int             // measured events (warm-up excluded)
	Duration  time.Duration   // from the first to the last measured send
	Latencies []time.Duration // per measured event, send to receipt
	ChildCPU  time.Duration   // CPU time the reader process used
}

// Rate is the achieved send rate in events/s.
func (r LatencyRun) Rate() float64 {
	if r.Duration <= 0 || r.Sent < 2 {
		return 0
	}
	return float64(r.Sent-1) / r.Duration.Seconds()
}

// LatencyOptions configures one latency measurement.
type LatencyOptions struct {
	Events       int           // measured events
	Warmup       int           // events sent first, not measured
	Rate         float64       // events/s
	Streams      int           // appends rotate over this many streams
	DataSize     int           // approximate bytes of data JSON
	PollInterval time.Duration // plain-pgx reader's sleep after an empty poll
	ChildCommand string        // default os.Executable()
	// OnMeasureStart and OnMeasureStop, if set, are called just before the
	// first measured send and just after the last (go test -bench uses them
	// to time only the measured sends).
	OnMeasureStart, OnMeasureStop func()
}

func (o Options) latencyOptions() LatencyOptions {
	o = o.withDefaults(ScenarioLatency)
	return LatencyOptions{
		Events:       o.Events,
		Warmup:       max(o.Warmup, 0),
		Rate:         o.Rate,
		Streams:      o.Streams,
		DataSize:     o.DataSize,
		PollInterval: o.PlainPollInterval,
		ChildCommand: o.ChildCommand,
	}
}

// LatencyOptionsFrom returns the latency options of opts, defaults filled.
func LatencyOptionsFrom(opts Options) LatencyOptions { return opts.latencyOptions() }

// MeasureLatency starts a reader child process in the given mode (ModeNotify,
// ModePoll or ModePlain) on fx's schema, appends Warmup+Events events at a
// steady Rate with single-event appends — Store.Append for the store modes,
// a single-row autocommit INSERT into the baseline table for ModePlain — and
// returns the per-event latency the child saw. Each event carries its send
// time (UnixNano) in its data; the child subtracts it from its clock when a
// read returns the event. For ModePoll, fx's store should have
// DisableNotify set.
func MeasureLatency(ctx context.Context, fx *Fixture, mode string, o LatencyOptions) (LatencyRun, error) {
	if o.Events <= 0 || o.Rate <= 0 || o.Streams <= 0 {
		return LatencyRun{}, fmt.Errorf("bench: latency: events, rate and streams must be positive")
	}
	total := o.Warmup + o.Events
	interval := time.Duration(float64(time.Second) / o.Rate)
	expected := time.Duration(total) * interval
	ch, err := startChild(ctx, o.ChildCommand, childConfig{
		Mode:         mode,
		URL:          fx.URL,
		Schema:       fx.Schema,
		Total:        total,
		Warmup:       o.Warmup,
		PollInterval: o.PollInterval,
		Timeout:      expected + time.Minute,
	})
	if err != nil {
		return LatencyRun{}, err
	}
	streams := make([]string, o.Streams)
	for i := range streams {
		streams[i] = "latency-" + strconv.Itoa(i)
	}
	versions := make([]int64, o.Streams)
	plainSQL := `INSERT INTO ` + fx.Plain + ` (event_id, stream_id, version, type, data, metadata) VALUES ($1, $2, $3, $4, $5, $6)`
	send := func(i int) error {
		k := i % o.Streams
		sent := time.Now().UnixNano()
		p := newPayload(int64(i), sent, o.DataSize)
		if mode == ModePlain {
			versions[k]++
			_, err := fx.Pool.Exec(ctx, plainSQL, [16]byte(uuid.New()), streams[k], versions[k], EventType, p.data.Data, p.metaJSON)
			return err
		}
		_, err := fx.Store.Append(ctx, streams[k], eventlog.Any, p.data)
		return err
	}
	var first, last time.Time
	start := time.Now()
	for i := range total {
		target := start.Add(time.Duration(i) * interval)
		if d := time.Until(target); d > 0 {
			time.Sleep(d)
		}
		if i == o.Warmup {
			if o.OnMeasureStart != nil {
				o.OnMeasureStart()
			}
			first = time.Now()
		}
		if err := send(i); err != nil {
			_ = ch.cmd.Process.Kill()
			_ = ch.cmd.Wait()
			return LatencyRun{}, fmt.Errorf("bench: latency append %d: %w", i, err)
		}
		last = time.Now()
	}
	if o.OnMeasureStop != nil {
		o.OnMeasureStop()
	}
	rep, err := ch.wait(ctx, 30*time.Second)
	if err != nil {
		return LatencyRun{}, err
	}
	run := LatencyRun{Mode: mode, Sent: o.Events, Duration: last.Sub(first), Latencies: make([]time.Duration, len(rep.LatenciesUs))}
	if ps := ch.cmd.ProcessState; ps != nil {
		run.ChildCPU = ps.UserTime() + ps.SystemTime()
	}
	for i, us := range rep.LatenciesUs {
		run.Latencies[i] = time.Duration(us) * time.Microsecond
	}
	if len(run.Latencies) != o.Events {
		return run, fmt.Errorf("bench: latency: child measured %d of %d events", len(run.Latencies), o.Events)
	}
	return run, nil
}

func latencyResult(scenario string, r LatencyRun, notes string) Result {
	return Result{
		Scenario:   scenario,
		Events:     int64(r.Sent),
		Seconds:    round(r.Duration.Seconds(), 3),
		EventsPerS: round(r.Rate(), 1),
		P50Ms:      ms(Percentile(r.Latencies, 50)),
		P99Ms:      ms(Percentile(r.Latencies, 99)),
		Notes: fmt.Sprintf("%s; p90 %.2f ms, max %.2f ms", notes,
			ms(Percentile(r.Latencies, 90)), ms(Percentile(r.Latencies, 100))),
	}
}

func latencyGoal(r Result) Result {
	verdict := "met"
	if r.P50Ms >= 10 || r.P99Ms >= 50 {
		verdict = "MISSED"
	}
	r.Notes += "; goal p50 < 10 ms and p99 < 50 ms: " + verdict
	return r
}

// Latency measures append-to-reader latency across processes: a child
// process (this binary re-executed, see MaybeRunChild) follows the log with
// its own pool, Store.Tailer and ReadBatch while this process appends at a
// steady rate. It returns two results, with notifications (latency) and
// polling only (latency-poll), each with the plain-pgx ceiling as Baseline:
// a child polling the baseline table with a keyset query on position
// (sleeping PlainPollInterval after an empty poll) while this process
// inserts single rows. The runs go notify, poll, plain, each on a fresh
// schema.
func Latency(ctx context.Context, env *Env, opts Options) ([]Result, error) {
	lo := opts.latencyOptions()
	disturbedBy := map[string]string{}
	measure := func(mode string, cfg postgres.Config) (LatencyRun, error) {
		var (
			best      LatencyRun
			bestShare float64
		)
		for attempt := 1; ; attempt++ {
			fx, err := env.NewFixture(ctx, ScenarioLatency+"-"+mode, FixtureOptions{MaxConns: 4, Store: cfg})
			if err != nil {
				return LatencyRun{}, err
			}
			benchcpu.WaitQuiet(ctx, env.Postmaster, env.QuietWait)
			c0, begin := benchcpu.Take(env.Postmaster), time.Now()
			r, err := MeasureLatency(ctx, fx, mode, lo)
			c := benchcpu.Take(env.Postmaster).Sub(c0)
			fx.Close()
			if err != nil {
				return r, err
			}
			share := max(c.Other()-r.ChildCPU, 0).Seconds() / time.Since(begin).Seconds()
			env.Logger.Info("bench: latency run", "mode", mode, "attempt", attempt, "events", r.Sent, "rate", int(r.Rate()),
				"p50_ms", ms(Percentile(r.Latencies, 50)), "p99_ms", ms(Percentile(r.Latencies, 99)),
				"other_cpu_pct", int(100*share))
			if attempt == 1 || share < bestShare {
				best, bestShare = r, share
			}
			if share <= disturbed || attempt == maxAttempts || env.QuietWait <= 0 {
				if attempt > 1 {
					disturbedBy[mode] = fmt.Sprintf("; kept the least disturbed of %d attempts (other processes %.0f%% of one core)", attempt, 100*bestShare)
				}
				return best, nil
			}
		}
	}
	notify, err := measure(ModeNotify, postgres.Config{})
	if err != nil {
		return nil, err
	}
	poll, err := measure(ModePoll, postgres.Config{DisableNotify: true})
	if err != nil {
		return nil, err
	}
	plain, err := measure(ModePlain, postgres.Config{DisableNotify: true})
	if err != nil {
		return nil, err
	}
	shape := fmt.Sprintf("%d events after %d warm-up at %.0f/s, single-event appends over %d streams, reader in a child process", lo.Events, lo.Warmup, lo.Rate, lo.Streams)
	base := latencyResult(ScenarioLatency+"/plain-pgx", plain, fmt.Sprintf(
		"ceiling: child polls SELECT ... FROM plain_events WHERE position > $1 ORDER BY position LIMIT 1000 on one connection, sleeping %v after an empty poll (not a correct reader: position order is not commit order); parent inserts single rows, autocommit; %s", lo.PollInterval, shape))
	base.Notes += disturbedBy[ModePlain]
	n := latencyGoal(latencyResult(ScenarioLatency, notify, "Store.Append -> NOTIFY hint (2 ms window) -> child's Store.Tailer (LISTEN + adaptive poll, 5 ms min) -> ReadBatch(1000); "+shape+disturbedBy[ModeNotify]))
	p := latencyGoal(latencyResult(ScenarioLatency+"-poll", poll, "notifications disabled on both sides: child's Store.Tailer polls Head adaptively (5 ms while moving, doubling to 1 s when idle) -> ReadBatch(1000); "+shape+disturbedBy[ModePoll]))
	n.Baseline, p.Baseline = &base, &base
	return []Result{n, p}, nil
}
