package pgembed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/causewayhq/causeway/internal/backoff"
)

// templateFormat is bumped whenever the initdb flags change, invalidating
// templates built by older code.
const templateFormat = "pgembed-template-v1"

const templateMarker = "complete"

// templateDir is the cached initdb'd cluster for one PostgreSQL major
// version and one server uid under root (os.TempDir() outside tests), shared
// by all processes on the machine.
func templateDir(root, major string, uid int) string {
	return filepath.Join(root, fmt.Sprintf("%stemplate-%s-%d", dirPrefix, major, uid))
}

// copyFromTemplate makes dstData a fresh copy of the template data dir,
// building the template first if it is missing or incomplete. Readers hold a
// shared flock on the template's lock file while copying; the builder holds
// it exclusively, so concurrent test binaries neither race on initdb nor copy
// a half-built template.
func copyFromTemplate(ctx context.Context, root, binDir, major string, ra runAs, dstData string, log *slog.Logger) error {
	tdir := templateDir(root, major, ra.uid)
	lock, err := os.OpenFile(tdir+".lock", os.O_RDONLY|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("pgembed: open template lock: %w", err)
	}
	defer lock.Close()

	for attempt := 0; attempt < 3; attempt++ {
		if err := flockCtx(ctx, lock, syscall.LOCK_SH); err != nil {
			return err
		}
		if templateValid(tdir, major) {
			err := copyTree(filepath.Join(tdir, "data"), dstData, ra)
			unlock(lock)
			return err
		}
		unlock(lock)

		if err := flockCtx(ctx, lock, syscall.LOCK_EX); err != nil {
			return err
		}
		if !templateValid(tdir, major) {
			start := time.Now()
			err := buildTemplate(ctx, binDir, major, ra, tdir)
			if err != nil {
				unlock(lock)
				return err
			}
			log.Info("pgembed: built template data directory", "dir", tdir, "elapsed", time.Since(start))
		}
		unlock(lock)
	}
	return fmt.Errorf("pgembed: template %s keeps turning out incomplete", tdir)
}

// flockCtx takes a flock, polling so that ctx can abort the wait.
func flockCtx(ctx context.Context, f *os.File, how int) error {
	wait := backoff.New(5*time.Millisecond, 100*time.Millisecond)
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			return fmt.Errorf("pgembed: flock %s: %w", f.Name(), err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgembed: waiting for lock %s: %w", f.Name(), ctx.Err())
		case <-time.After(wait.Next()):
		}
	}
}

func unlock(f *os.File) { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }

func templateValid(tdir, major string) bool {
	marker, err := os.ReadFile(filepath.Join(tdir, templateMarker))
	if err != nil || string(marker) != markerContent(major) {
		return false
	}
	ver, err := os.ReadFile(filepath.Join(tdir, "data", "PG_VERSION"))
	if err != nil || strings.TrimSpace(string(ver)) != major {
		return false
	}
	_, err = os.Stat(filepath.Join(tdir, "data", "global", "pg_control"))
	return err == nil
}

func markerContent(major string) string { return templateFormat + " major=" + major + "\n" }

// buildTemplate runs initdb into tdir/data and writes the marker file last.
func buildTemplate(ctx context.Context, binDir, major string, ra runAs, tdir string) error {
	if err := os.RemoveAll(tdir); err != nil {
		return fmt.Errorf("pgembed: remove stale template: %w", err)
	}
	if err := os.Mkdir(tdir, 0o755); err != nil {
		return fmt.Errorf("pgembed: create template dir: %w", err)
	}
	if err := ra.chown(tdir); err != nil {
		return err
	}
	if err := ra.checkTraversable(tdir); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.Command(filepath.Join(binDir, "initdb"),
		"-D", filepath.Join(tdir, "data"),
		"-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	cmd.Dir = tdir
	cmd.Env = serverEnv()
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: ra.cred, Setpgid: true}
	p, err := startProcess(cmd)
	if err != nil {
		return err
	}
	if err := p.wait(ctx); err != nil {
		_ = p.kill()
		return fmt.Errorf("pgembed: initdb: %w\n%s", err, tail(out.Bytes(), 4096))
	}
	if err := os.WriteFile(filepath.Join(tdir, templateMarker), []byte(markerContent(major)), 0o644); err != nil {
		return fmt.Errorf("pgembed: write template marker: %w", err)
	}
	return nil
}

// copyTree copies the directory src to dst (which must not exist),
// preserving permission bits and, when switching users, handing everything
// to the server's user.
func copyTree(src, dst string, ra runAs) error {
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if err := os.Mkdir(target, info.Mode().Perm()); err != nil {
				return err
			}
			if err := os.Chmod(target, info.Mode().Perm()); err != nil { // undo umask
				return err
			}
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			if err := os.Symlink(link, target); err != nil {
				return err
			}
		case info.Mode().IsRegular():
			if err := copyFile(path, target, info.Mode().Perm()); err != nil {
				return err
			}
		default:
			return nil // sockets and the like are not part of a data dir
		}
		return ra.chown(target)
	})
	if err != nil {
		return fmt.Errorf("pgembed: copy template data dir: %w", err)
	}
	return nil
}

func copyFile(src, dst string, perm fs.FileMode) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}()
	if _, err := io.Copy(out, in); err != nil { // copy_file_range on Linux
		return err
	}
	return out.Chmod(perm)
}
