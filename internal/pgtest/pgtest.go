package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/causewayhq/causeway/internal/pgembed"
)

const envURL = "DATABASE_URL"

// startTimeout bounds starting the shared embedded cluster, including a
// first-time template build.
const startTimeout = 2 * time.Minute

var (
	mu       sync.Mutex
	baseURL  string           // set by Main
	embedded *pgembed.Cluster // set by Main when it started one
)

// Main runs the tests of a package against PostgreSQL; call it from
// TestMain. It never returns: it exits with m.Run's code.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if url := os.Getenv(envURL); url != "" {
		setServer(url, nil)
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	c, err := pgembed.Start(ctx, pgembed.Options{})
	cancel()
	if err != nil {
		if errors.Is(err, pgembed.ErrNoBinaries) {
			fmt.Fprintf(os.Stderr, "pgtest: these tests need PostgreSQL and DATABASE_URL is unset.\n%v\n", err)
		} else {
			fmt.Fprintf(os.Stderr, "pgtest: start embedded PostgreSQL: %v\n", err)
		}
		return 1
	}
	defer func() {
		if err := c.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: close embedded PostgreSQL: %v\n", err)
		}
	}()
	url := c.URL("")
	if err := os.Setenv(envURL, url); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: set %s: %v\n", envURL, err)
		return 1
	}
	setServer(url, c)
	return m.Run()
}

func setServer(url string, c *pgembed.Cluster) {
	mu.Lock()
	defer mu.Unlock()
	baseURL, embedded = url, c
}

// URL returns the URL of the test server: the one Main chose, else
// DATABASE_URL. It fails the test when neither is available.
func URL(tb testing.TB) string {
	tb.Helper()
	mu.Lock()
	url := baseURL
	mu.Unlock()
	if url == "" {
		url = os.Getenv(envURL)
	}
	if url == "" {
		tb.Fatalf("pgtest: no PostgreSQL server: call pgtest.Main from TestMain (func TestMain(m *testing.M) { pgtest.Main(m) }) or set %s", envURL)
	}
	return url
}

// Cluster returns the embedded cluster Main started, or nil when an
// external DATABASE_URL is in use (or Main was not called).
func Cluster() *pgembed.Cluster {
	mu.Lock()
	defer mu.Unlock()
	return embedded
}

// StartCluster starts a dedicated embedded cluster, closed in cleanup, for
// tests that stop, crash or restart PostgreSQL themselves. It runs with
// fsync off but synchronous_commit on, so every acknowledged commit
// survives Crash. It fails the test (with the install hint) when the
// binaries are missing, even if DATABASE_URL is set.
func StartCluster(tb testing.TB) *pgembed.Cluster {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	c, err := pgembed.Start(ctx, pgembed.Options{
		Settings: map[string]string{"synchronous_commit": "on"},
	})
	if err != nil {
		tb.Fatalf("pgtest: start dedicated PostgreSQL cluster: %v", err)
	}
	tb.Cleanup(func() {
		if err := c.Close(); err != nil {
			tb.Errorf("pgtest: close dedicated cluster: %v", err)
		}
	})
	return c
}
