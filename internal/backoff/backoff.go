// Package backoff is the delay of Causeway's infrastructure loops between
// failed attempts (the worker's reader, the saga executor's claims, the
// LISTEN connection, the tailer's polls): exponential from a base, capped,
// built from github.com/sethvargo/go-retry. Unlike retry.Do, such a loop
// never gives up and starts over after a success, which is what Reset is
// for.
package backoff

import (
	"time"

	"github.com/sethvargo/go-retry"
)

// Backoff yields base, 2·base, 4·base, … up to max, until Reset. It is not
// safe for concurrent use (each loop owns one).
type Backoff struct {
	base, max time.Duration
	b         retry.Backoff
}

// New returns a backoff from base up to max.
func New(base, max time.Duration) *Backoff {
	b := &Backoff{base: base, max: max}
	b.Reset()
	return b
}

// Next is the delay before the next attempt.
func (b *Backoff) Next() time.Duration {
	d, stop := b.b.Next()
	if stop { // the capped exponential never stops; be safe anyway
		return b.max
	}
	return d
}

// Reset starts over at base (after a success).
func (b *Backoff) Reset() {
	b.b = retry.WithCappedDuration(b.max, retry.NewExponential(b.base))
}
