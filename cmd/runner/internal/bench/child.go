package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/eventlog/postgres"
)

// childEnv is the environment variable that turns a process into a latency
// reader; it holds the childConfig as JSON.
const childEnv = "CAUSEWAY_BENCH_CHILD"

// Output lines of the child on stdout.
const (
	childReady  = "causeway-bench-child: ready"
	childResult = "causeway-bench-child: result "
)

// Reader modes of the latency child.
const (
	ModeNotify = "notify" // Store.Tailer with LISTEN/NOTIFY, then ReadBatch
	ModePoll   = "poll"   // Store.Tailer polling only (DisableNotify), then ReadBatch
	ModePlain  = "plain"  // plain pgx keyset poll of the baseline table
)

type childConfig struct {
	Mode         string        `json:"mode"`
	URL          string        `json:"url"`
	Schema       string        `json:"schema"`
	Total        int           `json:"total"`  // events the parent sends: order numbers 0..Total-1
	Warmup       int           `json:"warmup"` // the first Warmup are not measured
	PollInterval time.Duration `json:"poll_interval"`
	Timeout      time.Duration `json:"timeout"`
}

type childReport struct {
	Received    int     `json:"received"`
	LatenciesUs []int64 `json:"latencies_us"`
	Error       string  `json:"error,omitempty"`
}

// MaybeRunChild turns the process into a latency-scenario reader when it was
// started as one (an environment variable says so), and then exits; it
// returns at once otherwise. Call it first thing in main — and in test
// binaries from TestMain or an init function — of every binary that runs
// the latency scenario, since the scenario re-executes the current binary
// (Options.ChildCommand) as its reader.
func MaybeRunChild() {
	raw, ok := os.LookupEnv(childEnv)
	if !ok {
		return
	}
	var cfg childConfig
	var rep childReport
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		rep.Error = fmt.Sprintf("bad %s: %v", childEnv, err)
	} else {
		rep = runChild(cfg)
	}
	b, _ := json.Marshal(rep)
	fmt.Fprintln(os.Stdout, childResult+string(b))
	if rep.Error != "" {
		os.Exit(1)
	}
	os.Exit(0)
}

// receiver records the latency of each order number once.
type receiver struct {
	cfg      childConfig
	seen     []bool
	received int
	lat      []int64
}

func (r *receiver) got(data []byte, now int64) {
	n, sent, ok := sentAt(data)
	if !ok || n < 0 || n >= int64(r.cfg.Total) || r.seen[n] {
		return
	}
	r.seen[n] = true
	r.received++
	if n >= int64(r.cfg.Warmup) {
		r.lat = append(r.lat, (now-sent)/1000)
	}
}

func (r *receiver) done() bool { return r.received >= r.cfg.Total }

func runChild(cfg childConfig) childReport {
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	defer cancel()
	r := &receiver{cfg: cfg, seen: make([]bool, cfg.Total), lat: make([]int64, 0, cfg.Total)}
	var err error
	switch cfg.Mode {
	case ModeNotify, ModePoll:
		err = followStore(ctx, cfg, r)
	case ModePlain:
		err = followPlain(ctx, cfg, r)
	default:
		err = fmt.Errorf("unknown mode %q", cfg.Mode)
	}
	rep := childReport{Received: r.received, LatenciesUs: r.lat}
	if err != nil {
		rep.Error = err.Error()
	}
	return rep
}

// followStore follows the log the way a subscription does: wait for the
// process tailer's signal, then ReadBatch until caught up.
func followStore(ctx context.Context, cfg childConfig, r *receiver) error {
	pool, err := pgxpool.New(ctx, cfg.URL)
	if err != nil {
		return err
	}
	defer pool.Close()
	store, err := postgres.New(pool, postgres.Config{Schema: cfg.Schema, DisableNotify: cfg.Mode == ModePoll})
	if err != nil {
		return err
	}
	defer store.Close()
	after, err := store.Head(ctx)
	if err != nil {
		return err
	}
	sub := store.Tailer().Subscribe()
	defer sub.Close()
	fmt.Fprintln(os.Stdout, childReady)
	for !r.done() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("received %d of %d events: %w", r.received, cfg.Total, ctx.Err())
		case <-sub.C:
		}
		for {
			b, err := store.ReadBatch(ctx, after, eventlog.Filter{}, 1000)
			if err != nil {
				return err
			}
			now := time.Now().UnixNano()
			for i := range b.Events {
				r.got(b.Events[i].Data, now)
			}
			after = b.Next
			if b.CaughtUp {
				break
			}
		}
	}
	return nil
}

// followPlain polls the baseline table with a plain keyset query on
// position, sleeping PollInterval after a poll that found nothing. It is a
// ceiling, not a correct reader: position order is not commit order.
func followPlain(ctx context.Context, cfg childConfig, r *receiver) error {
	conn, err := pgx.Connect(ctx, cfg.URL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	table := pgx.Identifier{cfg.Schema, "plain_events"}.Sanitize()
	var after int64
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(position), 0) FROM "+table).Scan(&after); err != nil {
		return err
	}
	query := `SELECT position, event_id, stream_id, version, type, data, metadata, recorded_at
		FROM ` + table + ` WHERE position > $1 ORDER BY position LIMIT 1000`
	fmt.Fprintln(os.Stdout, childReady)
	for !r.done() {
		rows, err := conn.Query(ctx, query, after)
		if err != nil {
			return fmt.Errorf("received %d of %d events: %w", r.received, cfg.Total, err)
		}
		var (
			row   plainRow
			found int
		)
		now := time.Now().UnixNano()
		for rows.Next() {
			if err := rows.Scan(&row.position, &row.id, &row.stream, &row.version, &row.typ, &row.data, &row.meta, &row.recorded); err != nil {
				rows.Close()
				return err
			}
			r.got(row.data, now)
			after = int64(row.position)
			found++
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if found == 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("received %d of %d events: %w", r.received, cfg.Total, ctx.Err())
			case <-time.After(cfg.PollInterval):
			}
		}
	}
	return nil
}

// child is a running latency reader.
type child struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr *strings.Builder
}

// startChild re-executes exe (default: this binary) as a reader and waits
// until it reports ready.
func startChild(ctx context.Context, exe string, cfg childConfig) (*child, error) {
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("%w: find executable: %v", errChild, err)
		}
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	// The test flags keep a test binary that forgot MaybeRunChild from
	// running its tests (recursively); any other binary must call
	// MaybeRunChild before it looks at its arguments.
	cmd := exec.CommandContext(ctx, exe, "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(raw))
	c := &child{cmd: cmd, lines: make(chan string, 16), stderr: &strings.Builder{}}
	cmd.Stderr = c.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w: start %s: %v", errChild, exe, err)
	}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 64<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				return nil, c.fail("exited before it was ready (does the binary call bench.MaybeRunChild first?)")
			}
			if line == childReady {
				return c, nil
			}
			if strings.HasPrefix(line, childResult) {
				_, err := c.report(line)
				_ = cmd.Wait()
				return nil, err
			}
		case <-timeout.C:
			_ = cmd.Process.Kill()
			return nil, c.fail("not ready within 30s")
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (c *child) fail(msg string) error {
	_ = c.cmd.Wait()
	return fmt.Errorf("%w: %s; stderr: %s", errChild, msg, tailString(c.stderr.String(), 2000))
}

func (c *child) report(line string) (childReport, error) {
	var rep childReport
	if err := json.Unmarshal([]byte(strings.TrimPrefix(line, childResult)), &rep); err != nil {
		return rep, fmt.Errorf("%w: bad report: %v", errChild, err)
	}
	if rep.Error != "" {
		return rep, fmt.Errorf("%w: %s", errChild, rep.Error)
	}
	return rep, nil
}

// wait waits for the child's report.
func (c *child) wait(ctx context.Context, within time.Duration) (childReport, error) {
	timeout := time.NewTimer(within)
	defer timeout.Stop()
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				return childReport{}, c.fail("exited without a report")
			}
			if strings.HasPrefix(line, childResult) {
				rep, err := c.report(line)
				if werr := c.cmd.Wait(); err == nil && werr != nil {
					err = fmt.Errorf("%w: %v", errChild, werr)
				}
				return rep, err
			}
		case <-timeout.C:
			_ = c.cmd.Process.Kill()
			return childReport{}, c.fail(fmt.Sprintf("no report within %v", within))
		case <-ctx.Done():
			_ = c.cmd.Process.Kill()
			_ = c.cmd.Wait()
			return childReport{}, ctx.Err()
		}
	}
}

func tailString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
