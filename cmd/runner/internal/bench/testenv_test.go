package bench

import (
	"context"
	"testing"
	"time"
)

// ForBenchmark gives a go test -bench wrapper its context (ending after
// timeout) and an Env on the server at url (pgtest.URL), both released
// when b ends.
func ForBenchmark(b *testing.B, url string, timeout time.Duration) (context.Context, *Env) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	b.Cleanup(cancel)
	env, err := NewEnv(ctx, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(env.Close)
	return ctx, env
}
