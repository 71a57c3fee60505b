package pgembed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/internal/backoff"
)

// defaultReadyTimeout caps the wait for the server to accept connections
// when the caller's context has no deadline.
const defaultReadyTimeout = 60 * time.Second

// failKind classifies a failed launch so the caller knows whether a retry
// can help.
type failKind int

const (
	failOther failKind = iota
	failBind           // the port was taken: retry (with another port if we chose it)
	failShmem          // processes of a killed postmaster still hold its shared memory: wait and retry
)

// launch starts the postmaster on port and waits until it accepts
// connections. On failure the process is gone and the error carries the
// tail of the server log.
func (c *Cluster) launch(ctx context.Context, port int) (*process, failKind, error) {
	logf, err := os.OpenFile(c.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, failOther, fmt.Errorf("pgembed: open server log: %w", err)
	}
	var offset int64
	if fi, err := logf.Stat(); err == nil {
		offset = fi.Size()
	}
	fmt.Fprintf(logf, "---- pgembed: %s: starting postgres on 127.0.0.1:%d\n", time.Now().Format(time.RFC3339Nano), port)

	cmd := exec.Command(filepath.Join(c.binDir, "postgres"), c.serverArgs(port)...)
	cmd.Dir = c.rootDir
	cmd.Env = serverEnv()
	cmd.Stdout = logf
	cmd.Stderr = logf
	// Own process group: a terminal's Ctrl-C reaches only the test process,
	// which then takes the server down itself (or Pdeathsig does).
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.ra.cred, Setpgid: true}
	p, err := startProcess(cmd)
	logf.Close() // the child has its own descriptor
	if err != nil {
		return nil, failOther, err
	}

	if err := c.waitReady(ctx, p, port); err != nil {
		if !p.exited() {
			kids := childPIDs(p.pid())
			_ = p.stopWith(context.Background(), syscall.SIGQUIT, 5*time.Second)
			reapChildren(kids)
		}
		logTail := readLogTail(c.logPath, offset)
		return nil, classifyFailure(logTail), fmt.Errorf("pgembed: postgres on port %d did not become ready: %w\n--- tail of %s ---\n%s", port, err, c.logPath, logTail)
	}
	return p, failOther, nil
}

// serverArgs is the postgres command line.
func (c *Cluster) serverArgs(port int) []string {
	args := []string{
		"-D", c.dataDir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port=" + strconv.Itoa(port),
		"-c", "unix_socket_directories=" + socketDir(c.rootDir),
	}
	keys := make([]string, 0, len(c.settings))
	for k := range c.settings {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		args = append(args, "-c", k+"="+c.settings[k])
	}
	return args
}

// socketDir returns dir, or "" (no Unix socket) when the socket path would
// exceed the kernel's sun_path limit; clients use TCP anyway.
func socketDir(dir string) string {
	if len(dir)+len("/.s.PGSQL.65535.lock") > 100 {
		return ""
	}
	return dir
}

// waitReady connects with pgx in a loop until the server answers, the
// process exits, or ctx ends.
func (c *Cluster) waitReady(ctx context.Context, p *process, port int) error {
	cfg, err := pgx.ParseConfig(urlFor(port, "postgres"))
	if err != nil {
		return fmt.Errorf("pgembed: parse URL: %w", err)
	}
	// Short, capped back-off: a refused connection is cheap and start-up
	// takes only ~100-200 ms, so coarse polling would dominate.
	wait := backoff.New(2*time.Millisecond, 20*time.Millisecond)
	var lastErr error
	for {
		if p.exited() {
			return exitError(p)
		}
		attemptCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		lastErr = c.probe(attemptCtx, cfg)
		cancel()
		if lastErr == nil {
			return nil
		}
		select {
		case <-p.done:
			return exitError(p)
		case <-ctx.Done():
			return fmt.Errorf("%w (last connection error: %v)", ctx.Err(), lastErr)
		case <-time.After(wait.Next()):
		}
	}
}

// probe connects once and checks that the server is ours: if another
// process already listens on the port (our postmaster then fails to bind),
// a successful connection alone would be misleading.
func (c *Cluster) probe(ctx context.Context, cfg *pgx.ConnConfig) error {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var dataDir string
	if err := conn.QueryRow(ctx, "SHOW data_directory").Scan(&dataDir); err != nil {
		return err
	}
	if !sameDir(dataDir, c.dataDir) {
		return fmt.Errorf("pgembed: port %d is served by another PostgreSQL (data_directory %s)", cfg.Port, dataDir)
	}
	return nil
}

func sameDir(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	ra, errA := filepath.EvalSymlinks(a)
	rb, errB := filepath.EvalSymlinks(b)
	return errA == nil && errB == nil && ra == rb
}

func exitError(p *process) error {
	if p.err != nil {
		return fmt.Errorf("pgembed: postgres exited during start-up: %w", p.err)
	}
	return errors.New("pgembed: postgres exited during start-up")
}

func classifyFailure(logTail string) failKind {
	switch {
	case strings.Contains(logTail, "could not bind"),
		strings.Contains(logTail, "Address already in use"),
		strings.Contains(logTail, "could not create any TCP/IP sockets"):
		return failBind
	case strings.Contains(logTail, "pre-existing shared memory block"),
		strings.Contains(logTail, "already exists"):
		return failShmem
	}
	return failOther
}

// freePort asks the kernel for a free loopback port. Another process may
// take it before postgres binds; Start retries with a new one then.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgembed: find free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("pgembed: find free port: %w", err)
	}
	return port, nil
}

// serverEnv is the environment for initdb and postgres: this process's,
// minus libpq and locale variables, plus LC_ALL=C so messages (which we
// match, e.g. "could not bind") are in English.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PG") || strings.HasPrefix(k, "LC_") || k == "LANG" || k == "LANGUAGE" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C", "LANG=C")
}

// readLogTail returns the last lines the server wrote after offset.
func readLogTail(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read server log: %v)", err)
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return fmt.Sprintf("(cannot read server log: %v)", err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(cannot read server log: %v)", err)
	}
	return tail(b, 4096)
}

// tail returns at most the last n bytes of b, starting at a line boundary.
func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
		if i := strings.IndexByte(string(b), '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return strings.TrimRight(string(b), "\n")
}
