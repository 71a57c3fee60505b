package worker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/causewayhq/causeway/checkpoint"
)

// Worker runs subscriptions until its context ends.
type Worker struct {
	cfg    Config
	groups []*group
	// retryPush: the lease store announces operators' retry requests
	// (checkpoint.RetryListener), so the groups' retry polls are a fallback.
	retryPush bool
}

// New validates the configuration and subscriptions. It does no I/O.
func New(cfg Config, subs ...Subscription) (*Worker, error) {
	if cfg.Log == nil || cfg.Checkpoints == nil {
		return nil, errors.New("worker: Config.Log and Config.Checkpoints are required")
	}
	cfg = cfg.withDefaults()
	w := &Worker{cfg: cfg}
	_, w.retryPush = cfg.Leases.(checkpoint.RetryListener)
	seen := map[string]bool{}
	for _, sub := range subs {
		if err := sub.Err(); err != nil {
			return nil, err
		}
		s := sub.build(cfg.Middleware).withDefaults()
		if err := s.validate(); err != nil {
			return nil, err
		}
		if seen[s.Name] {
			return nil, fmt.Errorf("%w %q: registered twice", ErrInvalidSubscription, s.Name)
		}
		seen[s.Name] = true
		w.groups = append(w.groups, newGroup(w, s))
	}
	return w, nil
}

// MemberID is this process's name in its consumer groups.
func (w *Worker) MemberID() string { return w.cfg.MemberID }

// Run runs every subscription until ctx ends, then stops gracefully: each
// partition finishes and commits its in-flight batch, leases are released
// and memberships removed, within Config.ShutdownTimeout. Database outages
// are retried, not returned.
func (w *Worker) Run(ctx context.Context) error {
	if len(w.groups) == 0 {
		return errors.New("worker: no subscriptions")
	}
	var wg sync.WaitGroup
	if l, ok := w.cfg.Leases.(checkpoint.RetryListener); ok {
		// One LISTEN connection for all the subscriptions of the process.
		listenCtx, stop := context.WithCancel(context.Background())
		listened := make(chan struct{})
		go func() {
			defer close(listened)
			l.ListenRetries(listenCtx, w.wakeRetryPolls)
		}()
		defer func() {
			stop()
			<-listened
		}()
	}
	for _, g := range w.groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.run(ctx)
		}()
	}
	wg.Wait()
	return ctx.Err()
}

// wakeRetryPolls wakes the retry poll of subscription sub, or of every
// subscription for "".
func (w *Worker) wakeRetryPolls(sub string) {
	for _, g := range w.groups {
		if sub == "" || g.sub.Name == sub {
			g.wakeRetryPoll()
		}
	}
}

// LocalStatus reports what this process is doing, subscription by
// subscription (for status across the group see Inspect).
func (w *Worker) LocalStatus() []LocalSubscriptionStatus {
	var out []LocalSubscriptionStatus
	for _, g := range w.groups {
		out = append(out, g.localStatus())
	}
	return out
}

var processID = os.Getpid()
