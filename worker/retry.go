package worker

import (
	"time"

	"github.com/sethvargo/go-retry"
)

// RetryPolicy is how a subscription retries a failed event before
// dead-lettering it. The zero value means DefaultRetryPolicy.
type RetryPolicy struct {
	// MaxAttempts counts deliveries, the first included (1 = no retry).
	MaxAttempts int
	// InitialBackoff is the first wait; each next one doubles.
	InitialBackoff time.Duration
	// MaxBackoff caps one wait.
	MaxBackoff time.Duration
	// JitterPercent randomises each wait by ± this percentage.
	JitterPercent uint64
	// MaxDuration, if set, stops retrying once this much time has passed
	// since the first failure, whatever MaxAttempts says.
	MaxDuration time.Duration
}

// DefaultRetryPolicy: 5 deliveries over about 1.5 s.
var DefaultRetryPolicy = RetryPolicy{
	MaxAttempts:    5,
	InitialBackoff: 100 * time.Millisecond,
	MaxBackoff:     5 * time.Second,
	JitterPercent:  20,
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p == (RetryPolicy{}) {
		return DefaultRetryPolicy
	}
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultRetryPolicy.MaxAttempts
	}
	if p.InitialBackoff <= 0 {
		p.InitialBackoff = DefaultRetryPolicy.InitialBackoff
	}
	if p.MaxBackoff < p.InitialBackoff {
		p.MaxBackoff = max(p.InitialBackoff, DefaultRetryPolicy.MaxBackoff)
	}
	return p
}

// Backoff returns the go-retry backoff for one failing event: Next yields
// the wait before each further attempt, and stop once attempts run out.
func (p RetryPolicy) Backoff() retry.Backoff {
	p = p.withDefaults()
	b := retry.NewExponential(p.InitialBackoff)
	if p.JitterPercent > 0 {
		b = retry.WithJitterPercent(p.JitterPercent, b)
	}
	b = retry.WithCappedDuration(p.MaxBackoff, b)
	if p.MaxDuration > 0 {
		b = retry.WithMaxDuration(p.MaxDuration, b)
	}
	return retry.WithMaxRetries(uint64(p.MaxAttempts-1), b)
}

// nextAttempt is when an event that has failed attempts times, the last time
// with err, is tried again, or the zero time when it must not be: the error
// is permanent, the attempts ran out, or the next one would come later than
// MaxDuration after since (when the event first failed).
func (p RetryPolicy) nextAttempt(attempts int, err error, since, now time.Time) time.Time {
	p = p.withDefaults()
	if IsPermanent(err) || attempts >= p.MaxAttempts {
		return time.Time{}
	}
	wait := p.wait(attempts)
	if p.MaxDuration > 0 && now.Add(wait).Sub(since) > p.MaxDuration {
		return time.Time{}
	}
	return now.Add(wait)
}

// wait is the backoff after the given number of failed attempts (from 1):
// InitialBackoff doubling each time, capped at MaxBackoff, with jitter.
func (p RetryPolicy) wait(attempts int) time.Duration {
	p = p.withDefaults()
	b := retry.NewExponential(p.InitialBackoff)
	if p.JitterPercent > 0 {
		b = retry.WithJitterPercent(p.JitterPercent, b)
	}
	b = retry.WithCappedDuration(p.MaxBackoff, b)
	var d time.Duration
	for i := 0; i < attempts; i++ {
		d, _ = b.Next()
	}
	return d
}

// infraBackoff is the backoff between attempts at database work that failed
// for reasons outside the handler (PostgreSQL restarting, a dropped
// connection): 50 ms doubling to 5 s, with some jitter, without end.
func infraBackoff() retry.Backoff {
	return retry.WithCappedDuration(5*time.Second, retry.WithJitterPercent(10, retry.NewExponential(50*time.Millisecond)))
}
