package pgtest

import (
	"context"
	"testing"
	"time"
)

// Context is a context for one test's database work: it ends after d, or
// when the test ends, so a hung query fails the test instead of the run.
func Context(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}
