package pgembed

import (
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// runAs is the OS identity initdb and postgres run under. PostgreSQL refuses
// to run as root, so when this process is root the server runs as the
// "postgres" OS user; otherwise it runs as the current user.
type runAs struct {
	cred *syscall.Credential // nil: the current user, no switch
	uid  int
	gid  int
}

func resolveRunAs() (runAs, error) {
	if os.Geteuid() != 0 {
		return runAs{uid: os.Geteuid(), gid: os.Getegid()}, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return runAs{}, fmt.Errorf("pgembed: running as root, so PostgreSQL must run as the \"postgres\" OS user, which was not found (installing the postgresql package creates it, or `useradd --system postgres`): %w", err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return runAs{}, fmt.Errorf("pgembed: postgres user uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return runAs{}, fmt.Errorf("pgembed: postgres user gid %q: %w", u.Gid, err)
	}
	if uid == 0 {
		return runAs{}, fmt.Errorf("pgembed: the \"postgres\" OS user has uid 0; PostgreSQL refuses to run as root")
	}
	return runAs{cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, uid: uid, gid: gid}, nil
}

// switching reports whether the server runs as a different user than this
// process, which means files we create for it must be chowned.
func (r runAs) switching() bool { return r.cred != nil }

// chown hands path to the server's user when switching users.
func (r runAs) chown(path string) error {
	if !r.switching() {
		return nil
	}
	if err := os.Lchown(path, r.uid, r.gid); err != nil {
		return fmt.Errorf("pgembed: chown %s to uid %d: %w", path, r.uid, err)
	}
	return nil
}

// checkTraversable verifies, when switching users, that the server's user
// can reach dir: every ancestor must grant it search (x) permission. A
// typical failure is a BaseDir under a root-only 0700 directory such as the
// one testing.T.TempDir creates.
func (r runAs) checkTraversable(dir string) error {
	if !r.switching() {
		return nil
	}
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("pgembed: stat %s: %w", p, err)
		}
		if !r.canSearch(fi) {
			return fmt.Errorf("pgembed: directory %s (mode %v) is not searchable by the postgres user (uid %d), which the server runs as because this process is root; use a BaseDir whose ancestors are world-searchable, such as os.TempDir()", p, fi.Mode().Perm(), r.uid)
		}
		if parent := filepath.Dir(p); parent == p {
			return nil
		}
	}
}

func (r runAs) canSearch(fi fs.FileInfo) bool {
	perm := fi.Mode().Perm()
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true // cannot tell; let the server report it
	}
	switch {
	case int(st.Uid) == r.uid:
		return perm&0o100 != 0
	case int(st.Gid) == r.gid:
		return perm&0o010 != 0
	default:
		return perm&0o001 != 0
	}
}
