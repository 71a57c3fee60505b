package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
)

// CommitMode says how a subscription's checkpoint moves with its effects.
type CommitMode int

const (
	// Transactional runs each batch in one PostgreSQL transaction, given to
	// the handler as Delivery.Tx, in which the checkpoint also moves:
	// exactly-once effects for whatever the handler writes through it.
	Transactional CommitMode = iota
	// AtLeastOnce runs handlers outside any transaction (for side effects
	// elsewhere) and flushes the checkpoint every FlushEvents events or
	// FlushInterval; after a crash, events since the last flush are
	// delivered again with the same Delivery.IdempotencyKey.
	AtLeastOnce
)

func (m CommitMode) String() string {
	if m == AtLeastOnce {
		return "at-least-once"
	}
	return "transactional"
}

// StartFrom is where a new subscription starts.
type StartFrom int

const (
	// FromBeginning handles the whole log.
	FromBeginning StartFrom = iota
	// FromNow handles events appended after the subscription is first
	// registered.
	FromNow
)

// subscription is a consumer group as the engine runs it, built from a
// Subscription's options. Name, handlers and the partition count identify
// it across processes and restarts; the rest may change between
// deployments.
type subscription struct {
	Name       string
	Filter     eventlog.Filter
	Start      StartFrom
	Partitions int     // fixed at creation; default DefaultPartitions
	Key        KeyFunc // default StreamKey
	Handler    Handler
	// BeforeTx runs at the start of each delivering transaction (see the
	// BeforeTx option).
	BeforeTx BeforeTxFunc
	Retry    RetryPolicy
	Mode     CommitMode

	// BatchSize and BatchMaxDuration bound one batch (one transaction in
	// transactional mode): a batch ends at whichever comes first, so a
	// transaction never holds the log's horizon back for long.
	BatchSize        int
	BatchMaxDuration time.Duration

	// FlushEvents and FlushInterval: at-least-once checkpoint flushes.
	FlushEvents   int
	FlushInterval time.Duration

	// MaxDeadLetters caps the subscription's dead letters; at the cap a
	// failing partition halts visibly instead of dead-lettering more.
	MaxDeadLetters int
}

// Subscription defaults.
const (
	DefaultPartitions       = 8
	DefaultBatchSize        = 500
	DefaultBatchMaxDuration = 250 * time.Millisecond
	DefaultFlushEvents      = 100
	DefaultFlushInterval    = time.Second
	DefaultMaxDeadLetters   = 10_000
)

func (s subscription) withDefaults() subscription {
	if s.Partitions == 0 {
		s.Partitions = DefaultPartitions
	}
	if s.Key == nil {
		s.Key = StreamKey
	}
	s.Retry = s.Retry.withDefaults()
	if s.BatchSize <= 0 {
		s.BatchSize = DefaultBatchSize
	}
	if s.BatchMaxDuration <= 0 {
		s.BatchMaxDuration = DefaultBatchMaxDuration
	}
	if s.FlushEvents <= 0 {
		s.FlushEvents = DefaultFlushEvents
	}
	if s.FlushInterval <= 0 {
		s.FlushInterval = DefaultFlushInterval
	}
	if s.MaxDeadLetters <= 0 {
		s.MaxDeadLetters = DefaultMaxDeadLetters
	}
	return s
}

// ErrInvalidSubscription is returned by New for a bad definition.
var ErrInvalidSubscription = errors.New("worker: invalid subscription")

func (s subscription) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w %q: %s", ErrInvalidSubscription, s.Name, fmt.Sprintf(format, args...))
	}
	if err := checkpoint.ValidateName(s.Name); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidSubscription, err)
	}
	if s.Handler == nil {
		return bad("no handler")
	}
	if s.Partitions < 1 || s.Partitions > checkpoint.MaxPartitions {
		return bad("partitions must be 1..%d, got %d", checkpoint.MaxPartitions, s.Partitions)
	}
	if s.Mode != Transactional && s.Mode != AtLeastOnce {
		return bad("unknown commit mode %d", s.Mode)
	}
	return nil
}

// Log is the event log a worker reads: any eventlog.Store with a process
// tailer (eventlog/postgres and eventlog/memory both are).
type Log interface {
	eventlog.Store
	Tailer() *eventlog.Tailer
}

// Config configures a Worker.
type Config struct {
	Log         Log
	Checkpoints checkpoint.Store
	// Leases, if set, is the store the membership loop uses for heartbeats,
	// lease renewals, claims and releases: the same state as Checkpoints,
	// through a small pool of its own, so that they never wait for a
	// connection held by a handler's transaction (a member that cannot
	// renew loses its partitions). Default: Checkpoints.
	Leases checkpoint.Store
	// MemberID names this process in consumer groups (default
	// host-pid-random).
	MemberID string
	// LeaseTTL is how long a partition lease lasts without renewal; a dead
	// member's partitions are taken over within about 1⅓ TTL.
	LeaseTTL time.Duration
	// ReadBatchSize is how many events the reader fetches at once.
	ReadBatchSize int
	// PartitionBuffer is how many read batches' worth of events may wait
	// for one partition (its share of them) before the reader blocks.
	PartitionBuffer int
	// ShutdownTimeout bounds a graceful stop: in-flight batches finish and
	// commit, leases are released.
	ShutdownTimeout time.Duration
	// RetryPollInterval is how often a subscription with dead letters in
	// this process's partitions looks for operator retry requests (one query
	// per subscription reading the pending requests only), when the lease
	// store does not announce them.
	RetryPollInterval time.Duration
	// RetryFallbackInterval is how often it looks anyway when the store
	// announces requests (checkpoint.RetryListener, as the PostgreSQL store
	// does with NOTIFY): announced requests are acted on at once; the poll
	// finds those whose announcement was lost.
	RetryFallbackInterval time.Duration
	Logger                *slog.Logger
	// Hooks observe what the worker does (metrics, tests).
	Hooks Hooks
	// Clock times handler retries: when a failed event is due again
	// (default SystemClock; see Clock for what it does not time).
	Clock Clock
	// Middleware, if set, wraps every subscription's handler (the runtime
	// adds tracing and metrics with it).
	Middleware func(subscription string, next Handler) Handler
}

// Config defaults.
const (
	DefaultLeaseTTL              = 10 * time.Second
	DefaultReadBatchSize         = 500
	DefaultPartitionBuffer       = 4
	DefaultShutdownTimeout       = 10 * time.Second
	DefaultRetryPollInterval     = time.Second
	DefaultRetryFallbackInterval = 30 * time.Second
)

func (c Config) withDefaults() Config {
	if c.Leases == nil {
		c.Leases = c.Checkpoints
	}
	if c.MemberID == "" {
		host, _ := os.Hostname()
		c.MemberID = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), uuid.NewString()[:8])
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	if c.ReadBatchSize <= 0 {
		c.ReadBatchSize = DefaultReadBatchSize
	}
	if c.PartitionBuffer <= 0 {
		c.PartitionBuffer = DefaultPartitionBuffer
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.RetryPollInterval <= 0 {
		c.RetryPollInterval = DefaultRetryPollInterval
	}
	if c.RetryFallbackInterval <= 0 {
		c.RetryFallbackInterval = DefaultRetryFallbackInterval
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = SystemClock
	}
	return c
}

// Hooks are optional callbacks; each must be fast and safe for concurrent
// use. Metrics (runtime) and tests use them.
type Hooks struct {
	// Handled is called after each delivery with its outcome.
	Handled func(ctx context.Context, d *Delivery, took time.Duration, err error)
	// Committed is called after a checkpoint commit.
	Committed func(sub string, partition int, pos eventlog.Position, events int)
	// DeadLettered is called when an event is dead-lettered (blocked: parked
	// behind an earlier dead letter of its key).
	DeadLettered func(sub string, partition int, e *eventlog.Event, blocked bool, err error)
	// LeaseChanged is called when this process gains or loses a partition.
	LeaseChanged func(sub string, partition int, owned bool, reason string)
	// Halted is called when a partition halts at the dead-letter cap.
	Halted func(sub string, partition int)
}
