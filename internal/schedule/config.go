package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	pgstore "github.com/causewayhq/causeway/eventlog/postgres"
	"github.com/causewayhq/causeway/internal/migrations"
)

// Defaults for Config.
const (
	// DefaultRetryInterval is how often a follower tries to become leader.
	DefaultRetryInterval = 2 * time.Second
	// DefaultCheckInterval is how often the leader checks that its lock
	// connection is alive.
	DefaultCheckInterval = time.Second
	// DefaultRetentionSchedule is a retention policy's default schedule.
	DefaultRetentionSchedule = "@every 1h"
)

// Job is a cron job: Run is called once per scheduled time, on the leader.
type Job struct {
	// Name identifies the job's durable state; unique per scheduler.
	Name string
	// Spec is a cron expression: 5 fields, or 6 with seconds first, or a
	// descriptor such as "@hourly" or "@every 1m". A "CRON_TZ=Zone " prefix
	// selects the time zone (default Config.Location).
	Spec string
	// Run does the work. Its context is cancelled on shutdown and when
	// leadership is lost; ScheduledAt(ctx) tells the time it fulfils. An
	// error or a panic is a failed run.
	Run func(ctx context.Context) error
}

// RetentionPolicy deletes old events of one category on a schedule; the
// event log applies it (eventlog/postgres's Store.ApplyRetention, which
// says what is kept).
type RetentionPolicy struct {
	Category string
	// MaxAge deletes events recorded longer ago than this (0: no age limit).
	MaxAge time.Duration
	// MaxCount keeps at most this many newest events of the category
	// (0: no count limit).
	MaxCount int64
	// Force deletes even events a subscription has not processed yet, or
	// that dead letters or saga inboxes refer to.
	Force bool
	// Schedule is a cron expression (default DefaultRetentionSchedule).
	Schedule string
	// BatchSize bounds the rows one delete transaction removes
	// (default pgstore.DefaultRetentionBatch).
	BatchSize int
}

// retention is what the event log applies.
func (p RetentionPolicy) retention() pgstore.Retention {
	return pgstore.Retention{Category: p.Category, MaxAge: p.MaxAge, MaxCount: p.MaxCount, Force: p.Force, BatchSize: p.BatchSize}
}

// JobName is the name of the built-in job that applies p.
func (p RetentionPolicy) JobName() string { return "retention:" + p.Category }

func (p RetentionPolicy) validate() error { return p.retention().Validate() }

// Config configures a Scheduler.
type Config struct {
	// Pool runs the state queries and the jobs' database work. The leader
	// lock lives on a dedicated connection made from the pool's config.
	Pool *pgxpool.Pool
	// Schema holds the schedules table (default migrations.DefaultSchema).
	Schema string
	// MemberID names this process in the state table and in logs.
	MemberID string
	// Logger (default slog.Default()).
	Logger *slog.Logger
	Jobs   []Job
	// Retention policies become built-in jobs named RetentionPolicy.JobName.
	Retention []RetentionPolicy
	// Log applies the retention policies (required with Retention): the
	// statements over the events table are the event log's.
	Log *pgstore.Store
	// Guards describe what retention keeps unless forced (the checkpoint
	// and saga stores' RetentionGuard); see pgstore.Store.ApplyRetention.
	Guards []pgstore.RetentionGuard
	// RetryInterval is how often a follower tries to take the leader lock
	// (default DefaultRetryInterval). It bounds failover after the leader's
	// connection ends.
	RetryInterval time.Duration
	// CheckInterval is how often the leader checks its lock connection
	// (default DefaultCheckInterval).
	CheckInterval time.Duration
	// Location is the time zone of cron expressions without CRON_TZ
	// (default time.Local).
	Location *time.Location
}

func (c *Config) setDefaults() error {
	if c.Pool == nil {
		return errors.New("schedule: nil pool")
	}
	if len(c.Retention) > 0 && c.Log == nil {
		return errors.New("schedule: retention policies need the event log (Config.Log)")
	}
	if c.Schema == "" {
		c.Schema = migrations.DefaultSchema
	}
	if err := migrations.ValidateSchema(c.Schema); err != nil {
		return fmt.Errorf("schedule: %w", err)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.RetryInterval <= 0 {
		c.RetryInterval = DefaultRetryInterval
	}
	if c.CheckInterval <= 0 {
		c.CheckInterval = DefaultCheckInterval
	}
	if c.Location == nil {
		c.Location = time.Local
	}
	return nil
}
