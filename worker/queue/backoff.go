package queue

import (
	"fmt"
	"time"

	"github.com/sethvargo/go-retry"
)

// RetryBackoff is the delay before a failed message's next attempt:
// Initial after the first failure, doubling each time, capped at Max, each
// randomised by ± JitterPercent. The zero value means DefaultRetryBackoff.
// The number of attempts is the queue's (Config.MaxAttempts): the store
// counts them, crashes included, across every consumer.
type RetryBackoff struct {
	Initial, Max  time.Duration
	JitterPercent uint64
}

// DefaultRetryBackoff: 1 s doubling to 5 min, ± 20 %.
var DefaultRetryBackoff = RetryBackoff{Initial: time.Second, Max: 5 * time.Minute, JitterPercent: 20}

func (b RetryBackoff) withDefaults() RetryBackoff {
	if b == (RetryBackoff{}) {
		return DefaultRetryBackoff
	}
	if b.Initial <= 0 {
		b.Initial = DefaultRetryBackoff.Initial
	}
	if b.Max <= 0 {
		b.Max = max(b.Initial, DefaultRetryBackoff.Max)
	}
	return b
}

func (b RetryBackoff) validate() error {
	switch {
	case b.Initial < 0 || b.Max < 0:
		return fmt.Errorf("negative duration in %+v", b)
	case b.Max > 0 && b.Initial > b.Max:
		return fmt.Errorf("initial %v above max %v", b.Initial, b.Max)
	case b.JitterPercent > 100:
		return fmt.Errorf("jitter %d%% above 100%%", b.JitterPercent)
	}
	return nil
}

// Delay is the wait after the given failed attempt (from 1) before the
// next one.
func (b RetryBackoff) Delay(attempt int) time.Duration {
	b = b.withDefaults()
	var bo retry.Backoff = retry.NewExponential(b.Initial)
	if b.JitterPercent > 0 {
		bo = retry.WithJitterPercent(b.JitterPercent, bo)
	}
	bo = retry.WithCappedDuration(b.Max, bo)
	// Past 64 doublings the exponential saturates: the cap holds.
	d := b.Initial
	for range min(max(attempt, 1), 64) {
		d, _ = bo.Next()
	}
	return d
}
