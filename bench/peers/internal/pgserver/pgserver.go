// Package pgserver starts a throwaway PostgreSQL server from the machine's
// own binaries for the peer comparison. Causeway's launcher
// (internal/pgembed) is internal to the main module and so not importable
// from this one; this is the least of it: initdb into a temporary
// directory, postgres on a free loopback port with trust authentication,
// run as the "postgres" OS user when this process is root (PostgreSQL
// refuses root), killed with the process on Linux (Pdeathsig), and removed
// by Close.
package pgserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoBinaries reports that initdb and postgres were not found.
var ErrNoBinaries = errors.New("pgserver: PostgreSQL server binaries (initdb, postgres) not found on PATH or in /usr/lib/postgresql/*/bin; install them (apt-get install -y postgresql) or pass -url / set DATABASE_URL")

// Options configures Start.
type Options struct {
	// Durable keeps PostgreSQL's crash-safety defaults (fsync,
	// synchronous_commit, full_page_writes on); otherwise all three are off.
	Durable bool
	// Settings are extra server parameters (name -> value).
	Settings map[string]string
}

// Server is a running throwaway server.
type Server struct {
	dir  string
	port int
	cmd  *exec.Cmd
	done chan error
}

// URL is the server's connection string (database postgres, superuser postgres).
func (s *Server) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// Start initialises and starts a server.
func Start(ctx context.Context, opts Options) (*Server, error) {
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	var cred *syscall.Credential
	uid, gid := -1, -1
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("pgserver: running as root needs the \"postgres\" OS user: %w", err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	dir, err := os.MkdirTemp("", "causeway-peers-pg-*")
	if err != nil {
		return nil, fmt.Errorf("pgserver: %w", err)
	}
	if cred != nil {
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("pgserver: %w", err)
		}
	}
	var out bytes.Buffer
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", filepath.Join(dir, "data"),
		"-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.Stdout, initdb.Stderr = &out, &out
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if err := initdb.Run(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgserver: initdb: %w\n%s", err, out.String())
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	settings := map[string]string{
		"listen_addresses":           "127.0.0.1",
		"port":                       strconv.Itoa(port),
		"unix_socket_directories":    dir,
		"max_connections":            "300",
		"shared_buffers":             "128MB",
		"dynamic_shared_memory_type": "mmap",
	}
	if !opts.Durable {
		settings["fsync"], settings["synchronous_commit"], settings["full_page_writes"] = "off", "off", "off"
	}
	for k, v := range opts.Settings {
		settings[k] = v
	}
	args := []string{"-D", filepath.Join(dir, "data")}
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		args = append(args, "-c", k+"="+settings[k])
	}
	logf, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgserver: %w", err)
	}
	s := &Server{dir: dir, port: port, done: make(chan error, 1)}
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), args...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = sysProcAttr(cred)
	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the forking OS thread exits: keep this
		// goroutine on its thread, waiting, for the server's whole life.
		runtime.LockOSThread()
		if err := s.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		s.done <- s.cmd.Wait()
		logf.Close()
	}()
	if err := <-started; err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgserver: start postgres: %w", err)
	}
	if err := s.waitReady(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(cctx, s.URL())
		cancel()
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case err := <-s.done:
			b, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
			s.done <- err
			return fmt.Errorf("pgserver: postgres exited: %v\n%s", err, b)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pgserver: server not ready: %w", err)
		}
	}
}

// Close stops the server (fast shutdown) and removes its directory.
func (s *Server) Close() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
	os.RemoveAll(s.dir)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgserver: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// findBinaries returns the first PATH directory with initdb and postgres,
// else the newest /usr/lib/postgresql/*/bin.
func findBinaries() (string, error) {
	has := func(d string) bool {
		for _, b := range []string{"initdb", "postgres"} {
			if fi, err := os.Stat(filepath.Join(d, b)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		if d != "" && has(d) {
			return d, nil
		}
	}
	cands, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(cands, func(a, b string) int { return versionOf(b) - versionOf(a) })
	for _, d := range cands {
		if has(d) {
			return d, nil
		}
	}
	return "", ErrNoBinaries
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(strings.SplitN(filepath.Base(filepath.Dir(binDir)), ".", 2)[0])
	return v
}
