package pgembed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/causewayhq/causeway/internal/backoff"
)

var (
	errClosed     = errors.New("pgembed: cluster is closed")
	errNotRunning = errors.New("pgembed: cluster is not running")
)

// Cluster is one throwaway PostgreSQL server. Its methods are safe for
// concurrent use.
type Cluster struct {
	log      *slog.Logger
	binDir   string
	rootDir  string // the temporary directory holding everything below
	dataDir  string // rootDir/data
	logPath  string // rootDir/postgres.log
	settings map[string]string
	ra       runAs
	port     int                 // fixed once Start returns
	pickPort func() (int, error) // freePort, replaced in tests

	mu     sync.Mutex
	proc   *process // nil while stopped
	closed bool
}

// Start creates a new cluster in a fresh temporary directory under
// opts.BaseDir (copied from a cached initdb template) and starts it,
// returning once it accepts connections. Before that it sweeps BaseDir for
// directories of dead processes. Start's wait for readiness is capped at
// 60 s when ctx has no deadline.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	return start(ctx, opts, freePort)
}

func start(ctx context.Context, opts Options, pickPort func() (int, error)) (*Cluster, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Port < 0 || opts.Port > 65535 {
		return nil, fmt.Errorf("pgembed: invalid port %d", opts.Port)
	}
	settings, err := serverSettings(opts)
	if err != nil {
		return nil, err
	}
	binDir, err := FindBinaries()
	if err != nil {
		return nil, err
	}
	major, err := serverMajorVersion(ctx, binDir)
	if err != nil {
		return nil, err
	}
	ra, err := resolveRunAs()
	if err != nil {
		return nil, err
	}
	baseDir := opts.BaseDir
	if baseDir == "" {
		baseDir = os.TempDir()
	}
	if baseDir, err = filepath.Abs(baseDir); err != nil {
		return nil, fmt.Errorf("pgembed: base dir: %w", err)
	}
	if err := os.MkdirAll(baseDir, 0o755); err != nil {
		return nil, fmt.Errorf("pgembed: base dir: %w", err)
	}
	sweep(baseDir, log)

	rootDir, err := os.MkdirTemp(baseDir, dirPrefix)
	if err != nil {
		return nil, fmt.Errorf("pgembed: create cluster dir: %w", err)
	}
	c := &Cluster{
		log:      log,
		binDir:   binDir,
		rootDir:  rootDir,
		dataDir:  filepath.Join(rootDir, "data"),
		logPath:  filepath.Join(rootDir, "postgres.log"),
		settings: settings,
		ra:       ra,
		port:     opts.Port,
		pickPort: pickPort,
	}
	if err := c.create(ctx, major); err != nil {
		if rerr := os.RemoveAll(rootDir); rerr != nil {
			log.Warn("pgembed: remove cluster dir after failed start", "dir", rootDir, "err", rerr)
		}
		return nil, err
	}
	return c, nil
}

// create fills the fresh cluster directory and starts the server.
func (c *Cluster) create(ctx context.Context, major string) error {
	begin := time.Now()
	if err := writeOwner(c.rootDir); err != nil {
		return err
	}
	// The server writes its Unix socket into rootDir.
	if err := c.ra.chown(c.rootDir); err != nil {
		return err
	}
	if err := c.ra.checkTraversable(c.rootDir); err != nil {
		return err
	}
	if err := copyFromTemplate(ctx, os.TempDir(), c.binDir, major, c.ra, c.dataDir, c.log); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.startLocked(ctx, c.port == 0, false); err != nil {
		return err
	}
	c.log.Info("pgembed: cluster started", "port", c.port, "dir", c.rootDir, "pid", c.proc.pid(), "elapsed", time.Since(begin))
	return nil
}

// startLocked launches the server, retrying on leftover shared memory of a
// crashed server and on a taken port: with a new port when pickPort, on the
// same port (after a pause) when retryBind.
func (c *Cluster) startLocked(ctx context.Context, pickPort, retryBind bool) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultReadyTimeout)
		defer cancel()
	}
	const maxAttempts = 6
	wait := backoff.New(50*time.Millisecond, 2*time.Second)
	for attempt := 1; ; attempt++ {
		port := c.port
		if pickPort {
			p, err := c.pickPort()
			if err != nil {
				return err
			}
			port = p
		}
		proc, kind, err := c.launch(ctx, port)
		if err == nil {
			c.proc = proc
			if pickPort { // only before Start returns: Port and URL read c.port unlocked
				c.port = port
			}
			return nil
		}
		if attempt >= maxAttempts || kind == failOther || ctx.Err() != nil ||
			(kind == failBind && !pickPort && !retryBind) {
			return err
		}
		c.log.Debug("pgembed: start failed, retrying", "attempt", attempt, "port", port, "err", err)
		if kind == failBind && pickPort {
			continue
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait.Next()):
		}
	}
}

// URL returns a connection URL for database ("" means "postgres") as the
// superuser postgres over TCP, e.g.
// postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable.
func (c *Cluster) URL(database string) string {
	if database == "" {
		database = "postgres"
	}
	return urlFor(c.port, database)
}

func urlFor(port int, database string) string {
	return "postgres://postgres@127.0.0.1:" + strconv.Itoa(port) + "/" + url.PathEscape(database) + "?sslmode=disable"
}

// Port returns the server's TCP port on 127.0.0.1.
func (c *Cluster) Port() int { return c.port }

// DataDir returns the server's data directory.
func (c *Cluster) DataDir() string { return c.dataDir }

// LogPath returns the server's log file.
func (c *Cluster) LogPath() string { return c.logPath }

// Stop shuts the server down in "fast" mode (SIGINT: roll back open
// transactions, disconnect clients, checkpoint) and waits for it to exit.
// The data directory is kept, so Restart can start it again. If ctx ends
// first the server is SIGKILLed. Stopping a stopped cluster is a no-op.
func (c *Cluster) Stop(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopLocked(ctx)
}

func (c *Cluster) stopLocked(ctx context.Context) error {
	p := c.proc
	if p == nil {
		return nil
	}
	c.proc = nil
	if p.exited() {
		c.log.Warn("pgembed: server had already exited", "err", p.err)
		return nil
	}
	if err := p.signal(syscall.SIGINT); err != nil {
		return err
	}
	if err := p.wait(ctx); err != nil {
		kids := childPIDs(p.pid())
		_ = p.kill()
		reapChildren(kids)
		if ctx.Err() != nil {
			return fmt.Errorf("pgembed: stop: %w (server killed)", err)
		}
		return fmt.Errorf("pgembed: stop: %w", err)
	}
	return nil
}

// Crash SIGKILLs the postmaster, as if it had crashed, and waits until it
// and its children (which exit on noticing the postmaster's death) are
// gone. Restart then performs crash recovery.
func (c *Cluster) Crash() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errClosed
	}
	p := c.proc
	if p == nil {
		return fmt.Errorf("pgembed: crash: %w", errNotRunning)
	}
	c.proc = nil
	kids := childPIDs(p.pid())
	if err := p.kill(); err != nil {
		return fmt.Errorf("pgembed: crash: %w", err)
	}
	reapChildren(kids)
	return nil
}

// Restart starts the server again on the same port and data directory after
// Stop or Crash (a running server is stopped first) and waits until it
// accepts connections.
func (c *Cluster) Restart(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errClosed
	}
	if err := c.stopLocked(ctx); err != nil {
		return err
	}
	begin := time.Now()
	if err := c.startLocked(ctx, false, true); err != nil {
		return err
	}
	c.log.Info("pgembed: cluster restarted", "port", c.port, "pid", c.proc.pid(), "elapsed", time.Since(begin))
	return nil
}

// Close shuts the server down (immediate mode: no checkpoint, the data is
// about to be deleted) and removes the cluster's whole temporary
// directory. It is idempotent.
func (c *Cluster) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	var errs []error
	if p := c.proc; p != nil {
		c.proc = nil
		kids := childPIDs(p.pid())
		if err := p.stopWith(context.Background(), syscall.SIGQUIT, 10*time.Second); err != nil {
			errs = append(errs, err)
			reapChildren(kids)
		}
	}
	cleanupIPC(c.dataDir, c.log) // after a Crash or a forced kill
	if err := os.RemoveAll(c.rootDir); err != nil {
		errs = append(errs, fmt.Errorf("pgembed: remove cluster dir: %w", err))
	}
	return errors.Join(errs...)
}

// pid returns the postmaster's PID, or 0 when stopped (for tests).
func (c *Cluster) pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc == nil {
		return 0
	}
	return c.proc.pid()
}
