package worker

import (
	"context"
	"errors"
	"time"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
)

func isNotFound(err error) bool { return errors.Is(err, checkpoint.ErrNotFound) }

func (p *partition) now() time.Time { return time.Now() }

// clock is the worker's Clock, which times handler retries.
func (p *partition) clock() Clock { return p.g.w.cfg.Clock }

// LocalSubscriptionStatus is what this process does for a subscription.
type LocalSubscriptionStatus struct {
	Name       string
	Member     string
	Partitions []LocalPartitionStatus
}

// LocalPartitionStatus is one partition this process owns.
type LocalPartitionStatus struct {
	Partition int
	Epoch     int64
	State     string // starting, running, retrying, halted: dead-letter cap reached, stopped
	Handled   int64  // deliveries by this process
}

func (g *group) localStatus() LocalSubscriptionStatus {
	st := LocalSubscriptionStatus{Name: g.sub.Name, Member: g.member.ID}
	for _, p := range g.ownedPartitions() {
		st.Partitions = append(st.Partitions, LocalPartitionStatus{
			Partition: p.lease.Partition, Epoch: p.lease.Epoch,
			State: p.state.Load().(string), Handled: p.handled.Load(),
		})
	}
	return st
}

// Subscription states reported by Inspect.
const (
	StateRunning     = "running"
	StateCatchingUp  = "catching-up"
	StateStopped     = "stopped"
	StateDeadLetters = "dead-letters"
	StateHalted      = "halted"
)

// InspectOptions tune Inspect.
type InspectOptions struct {
	Filter eventlog.Filter
	// MaxDeadLetters is the subscription's cap (default DefaultMaxDeadLetters).
	MaxDeadLetters int
	// CatchingUpEvents: a partition further behind than this is catching up
	// (default 1000).
	CatchingUpEvents int64
}

// SubscriptionStatus is a consumer group as the database shows it, from any
// process.
type SubscriptionStatus struct {
	Name        string
	Partitions  []PartitionStatus
	Members     []checkpoint.Member
	Head        eventlog.Position
	LagEvents   int64   // events the slowest partition's cursor has yet to pass
	LagSeconds  float64 // age of the oldest event not yet handled
	DeadLetters int
	// State is stopped (no live lease), halted (dead letters at the cap),
	// dead-letters (some), catching-up or running, in that precedence.
	State string
}

// PartitionStatus is one partition's lease, checkpoint and lag. LagEvents
// counts the subscription's events between the partition's checkpoint and
// the head — what its cursor has yet to pass, whichever partition they go to.
type PartitionStatus struct {
	Partition      int
	Owner          string
	Epoch          int64
	LeaseExpiresAt time.Time
	Checkpoint     eventlog.Position
	CommittedAt    time.Time
	LagEvents      int64
	LagSeconds     float64
	State          string // running, catching-up or stopped
}

// Inspect reports a subscription's state, lag and dead letters.
func Inspect(ctx context.Context, log eventlog.Store, store checkpoint.Store, name string, opts InspectOptions) (SubscriptionStatus, error) {
	if opts.MaxDeadLetters <= 0 {
		opts.MaxDeadLetters = DefaultMaxDeadLetters
	}
	if opts.CatchingUpEvents <= 0 {
		opts.CatchingUpEvents = 1000
	}
	st := SubscriptionStatus{Name: name}
	if _, err := store.Subscription(ctx, name); err != nil {
		return st, err
	}
	parts, err := store.Partitions(ctx, name)
	if err != nil {
		return st, err
	}
	if st.Members, err = store.Members(ctx, name); err != nil {
		return st, err
	}
	if st.DeadLetters, err = store.CountDeadLetters(ctx, name); err != nil {
		return st, err
	}
	if st.Head, err = log.Head(ctx); err != nil {
		return st, err
	}
	now := time.Now()
	leased, catching := 0, false
	for _, p := range parts {
		ps := PartitionStatus{
			Partition: p.Partition, Owner: p.Owner, Epoch: p.Epoch, LeaseExpiresAt: p.LeaseExpiresAt,
			Checkpoint: p.Checkpoint, CommittedAt: p.CommittedAt, State: StateRunning,
		}
		if ps.LagEvents, err = log.CountBetween(ctx, p.Checkpoint, st.Head, opts.Filter); err != nil {
			return st, err
		}
		if ps.LagEvents > 0 {
			next, err := log.ReadBatch(ctx, p.Checkpoint, opts.Filter, 1)
			if err != nil {
				return st, err
			}
			if len(next.Events) > 0 {
				ps.LagSeconds = max(0, now.Sub(next.Events[0].RecordedAt).Seconds())
			}
		}
		switch {
		case !p.Leased(now):
			ps.State = StateStopped
		case ps.LagEvents > opts.CatchingUpEvents:
			ps.State = StateCatchingUp
			catching = true
			leased++
		default:
			leased++
		}
		st.LagEvents = max(st.LagEvents, ps.LagEvents)
		st.LagSeconds = max(st.LagSeconds, ps.LagSeconds)
		st.Partitions = append(st.Partitions, ps)
	}
	switch {
	case leased == 0:
		st.State = StateStopped
	case st.DeadLetters >= opts.MaxDeadLetters:
		st.State = StateHalted
	case st.DeadLetters > 0:
		st.State = StateDeadLetters
	case catching:
		st.State = StateCatchingUp
	default:
		st.State = StateRunning
	}
	return st, nil
}
