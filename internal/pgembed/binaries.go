package pgembed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrNoBinaries reports that the PostgreSQL server binaries could not be
// found. It is returned wrapped; test with errors.Is. Its message is the
// install hint shown to the person running the tests.
var ErrNoBinaries = errors.New("PostgreSQL server binaries (initdb, postgres) not found on PATH or in `pg_config --bindir` or /usr/lib/postgresql/*/bin: install them with `apt-get install -y postgresql` (Debian/Ubuntu), `dnf install postgresql-server` (Fedora/RHEL) or `brew install postgresql` (macOS), or set DATABASE_URL to an existing server")

// defaultBinGlobs are the well-known install locations searched last; the
// newest version wins.
var defaultBinGlobs = []string{"/usr/lib/postgresql/*/bin"}

// FindBinaries returns the directory that holds both initdb and postgres:
// the first PATH entry that has them, else `pg_config --bindir` (pg_config
// looked up on PATH), else the newest /usr/lib/postgresql/*/bin. It returns
// an error wrapping ErrNoBinaries when none qualifies.
func FindBinaries() (string, error) {
	return findBinariesIn(os.Getenv("PATH"), defaultBinGlobs)
}

// findBinariesIn is FindBinaries with the search path (a PATH-style list)
// and the fallback glob patterns injected, so tests can control them.
func findBinariesIn(pathList string, globs []string) (string, error) {
	dirs := filepath.SplitList(pathList)
	for _, dir := range dirs {
		if dir != "" && hasServerBinaries(dir) {
			return dir, nil
		}
	}
	for _, dir := range dirs {
		if dir == "" {
			continue
		}
		pgConfig := filepath.Join(dir, "pg_config")
		if !isExecutable(pgConfig) {
			continue
		}
		if bin, err := pgConfigBindir(pgConfig); err == nil && hasServerBinaries(bin) {
			return bin, nil
		}
	}
	var candidates []string
	for _, pattern := range globs {
		matches, err := filepath.Glob(pattern)
		if err != nil {
			return "", fmt.Errorf("pgembed: bad search pattern %q: %w", pattern, err)
		}
		candidates = append(candidates, matches...)
	}
	// Newest version first: compare the numbers in the path.
	slices.SortStableFunc(candidates, func(a, b string) int {
		return slices.Compare(versionKey(b), versionKey(a))
	})
	for _, dir := range candidates {
		if hasServerBinaries(dir) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("pgembed: %w", ErrNoBinaries)
}

func pgConfigBindir(pgConfig string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, pgConfig, "--bindir").Output()
	if err != nil {
		return "", fmt.Errorf("pgembed: %s --bindir: %w", pgConfig, err)
	}
	return strings.TrimSpace(string(out)), nil
}

func hasServerBinaries(dir string) bool {
	return isExecutable(filepath.Join(dir, "initdb")) && isExecutable(filepath.Join(dir, "postgres"))
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

var digitRuns = regexp.MustCompile(`[0-9]+`)

// versionKey extracts the numbers of a path such as
// /usr/lib/postgresql/15/bin for ordering candidates by version.
func versionKey(path string) []int {
	var key []int
	for _, s := range digitRuns.FindAllString(path, -1) {
		n, err := strconv.Atoi(s)
		if err != nil {
			n = 0
		}
		key = append(key, n)
	}
	return key
}

var versionRE = regexp.MustCompile(`\(PostgreSQL\) ([0-9]+)(?:\.([0-9]+))?`)

// serverMajorVersion runs `postgres --version` (allowed as root) and returns
// the major version: "15" for 15.x, "9.6" for 9.6.x.
func serverMajorVersion(ctx context.Context, binDir string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "postgres"), "--version")
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("pgembed: %s --version: %w: %s", cmd.Path, err, strings.TrimSpace(out.String()))
	}
	return parseMajorVersion(out.String())
}

func parseMajorVersion(s string) (string, error) {
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		return "", fmt.Errorf("pgembed: cannot parse PostgreSQL version from %q", strings.TrimSpace(s))
	}
	major, err := strconv.Atoi(m[1])
	if err != nil {
		return "", fmt.Errorf("pgembed: cannot parse PostgreSQL version from %q: %w", strings.TrimSpace(s), err)
	}
	if major < 10 && m[2] != "" {
		return m[1] + "." + m[2], nil
	}
	return m[1], nil
}
