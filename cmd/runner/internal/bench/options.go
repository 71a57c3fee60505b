package bench

import (
	"fmt"
	"time"

	"github.com/causewayhq/causeway/eventlog/postgres"
	"github.com/causewayhq/causeway/saga"
	"github.com/causewayhq/causeway/worker"
)

// Scenario names.
const (
	ScenarioAppend      = "append"
	ScenarioAppendBatch = "append-batch"
	ScenarioImport      = "import"
	ScenarioCatchUp     = "catchup"
	ScenarioLatency     = "latency"
	// ScenarioWorkerCatchUp reports worker-catchup-p1 and worker-catchup-p8
	// (or worker-catchup-pN with Options.Partitions).
	ScenarioWorkerCatchUp = "worker-catchup"
	ScenarioWorkerUpsert  = "worker-upsert"
	ScenarioReplay        = "replay"
	// ScenarioSaga reports saga (a backlog of starts) and saga-latency
	// (starts appended at a steady rate).
	ScenarioSaga = "saga"
	// ScenarioQueue reports queue (no-op handler throughput draining a
	// backlog) and queue-latency (enqueue to handler at a steady rate).
	ScenarioQueue = "queue"
	// ScenarioDeadLetters compares a subscription with no dead letters and
	// one with Options.Events of them: idle server CPU and append→handler
	// latency (deadletters.go).
	ScenarioDeadLetters = "dead-letters"
	// ScenarioCatchUpSize compares a worker's catch-up of 100,000 events
	// with one of Options.Events (flat.go).
	ScenarioCatchUpSize = "catchup-size"
	// ScenarioFanout compares 1 and 32 subscriptions catching up one log
	// (flat.go).
	ScenarioFanout = "fanout"
	// ScenarioRebuild rebuilds an upsert read model beside the live one
	// while a reader queries the live one.
	ScenarioRebuild = "rebuild"
)

// Options tunes a scenario. Zero fields take the scenario's default (see
// Defaults).
type Options struct {
	// Events is the number of events measured per repetition (per side).
	// For catchup it is the size of the preloaded log that is read.
	Events int
	// Concurrency is the number of appending goroutines (append,
	// append-batch), or the saga executor's Concurrency (saga).
	Concurrency int
	// BatchSize is the events per append (append-batch), per read
	// (catchup), or the subscription's BatchSize (worker-catchup,
	// worker-upsert, replay, saga: the most events the worker gathers into
	// one transaction; the plain-pgx baselines gather the same way).
	BatchSize int
	// ReadBatchSize is the worker's Config.ReadBatchSize and the plain
	// readers' batch in the worker scenarios (worker-catchup,
	// worker-upsert, replay); 0 = worker.DefaultReadBatchSize.
	ReadBatchSize int
	// Partitions is the subscription's partition count (worker-upsert,
	// replay, saga; worker-catchup runs 1 and 8 unless it is set).
	Partitions int
	// Streams is the number of distinct streams single-event appends go to
	// (append, latency).
	Streams int
	// DataSize is the approximate size in bytes of each event's data JSON.
	// Metadata (a correlation id) comes on top.
	DataSize int
	// Rate is the steady append rate of the latency scenario, in events/s
	// (saga: of the start events of its end-to-end latency run; rebuild:
	// the live reader's reads per second).
	Rate float64
	// Warmup is the number of events each side writes or reads before the
	// measured repetitions (latency: events sent before measuring starts;
	// catchup: any value >= 0 means one full plain pass). Zero takes the
	// default; a negative value disables the warm-up.
	Warmup int
	// Repetitions is how many measured runs each side gets; the median is
	// reported.
	Repetitions int
	// PlainPollInterval is how long the plain-pgx latency child sleeps after
	// a poll that found nothing.
	PlainPollInterval time.Duration
	// DisableNotify turns the store's post-commit NOTIFY hint off in the
	// append, append-batch and import scenarios (to measure its cost; the
	// latency scenario measures both ways regardless).
	DisableNotify bool
	// AppendInFlight is the store's group commit bound in the append
	// scenario (postgres.Config.AppendInFlight); negative: group commit off.
	AppendInFlight int
	// Parked is the number of sagas parked at a wait step in the
	// saga-parked run (0 = DefaultParkedSagas).
	Parked int
	// RecordInFlight is the saga store's group commit bound in the saga
	// scenarios (saga/postgres.RecordInFlight); 0 = default, negative:
	// group commit off.
	RecordInFlight int
	// NoHandOff turns the saga hand-off off (saga.HandOff): new instances
	// are claimed, the executor woken after each subscription commit.
	NoHandOff bool
	// IdleWindow is how long the dead-letters scenario measures an idle
	// server per repetition; 0 = 15s.
	IdleWindow time.Duration
	// ChildCommand is the executable the latency scenario re-executes as
	// its reader; default os.Executable(). It must call MaybeRunChild first
	// thing.
	ChildCommand string
}

// Defaults returns the default options of a scenario (the `runner bench`
// defaults; go test -bench wrappers use smaller logs).
func Defaults(scenario string) Options {
	o := Options{
		DataSize:          240,
		Repetitions:       3,
		PlainPollInterval: time.Millisecond,
	}
	switch scenario {
	case ScenarioAppend:
		o.Events, o.Concurrency, o.Streams, o.Warmup = 20_000, 16, 10_000, 5_000
	case ScenarioAppendBatch:
		o.Events, o.Concurrency, o.BatchSize, o.Warmup = 100_000, 4, 100, 10_000
	case ScenarioImport:
		o.Events, o.Warmup = 200_000, 20_000
	case ScenarioCatchUp:
		o.Events, o.BatchSize = 1_000_000, 1000
	case ScenarioLatency:
		o.Events, o.Rate, o.Streams, o.Warmup, o.Repetitions = 2_000, 200, 100, 200, 1
	case ScenarioWorkerCatchUp:
		o.Events, o.BatchSize = 1_000_000, worker.DefaultBatchSize
	case ScenarioWorkerUpsert:
		o.Events, o.BatchSize, o.Partitions = 200_000, worker.DefaultBatchSize, 8
	case ScenarioReplay:
		o.Events, o.BatchSize, o.Partitions = 1_000_000, worker.DefaultBatchSize, 8
	case ScenarioRebuild:
		o.Events, o.BatchSize, o.Partitions, o.Rate = 1_000_000, worker.DefaultBatchSize, 8, 200
	case ScenarioCatchUpSize:
		o.Events, o.BatchSize, o.Partitions = 3_000_000, worker.DefaultBatchSize, worker.DefaultPartitions
	case ScenarioFanout:
		o.Events, o.BatchSize, o.Partitions = 50_000, worker.DefaultBatchSize, worker.DefaultPartitions
	case ScenarioDeadLetters:
		o.Events, o.Partitions, o.Rate = 100_000, worker.DefaultPartitions, 200
	case ScenarioQueue:
		o.Events, o.Concurrency, o.BatchSize, o.Rate, o.Warmup = 20_000, 16, 16, 500, 500
	case ScenarioSaga:
		o.Events, o.BatchSize, o.Partitions, o.Concurrency, o.Rate, o.Warmup = 5_000, worker.DefaultBatchSize, worker.DefaultPartitions, saga.DefaultConcurrency, 200, 500
	}
	return o
}

// withDefaults fills zero fields from Defaults(scenario).
func (o Options) withDefaults(scenario string) Options {
	d := Defaults(scenario)
	if o.Events <= 0 {
		o.Events = d.Events
	}
	if o.Concurrency <= 0 {
		o.Concurrency = max(d.Concurrency, 1)
	}
	if o.BatchSize <= 0 {
		o.BatchSize = d.BatchSize
	}
	if o.ReadBatchSize <= 0 {
		o.ReadBatchSize = worker.DefaultReadBatchSize
	}
	if o.Partitions <= 0 {
		o.Partitions = d.Partitions
	}
	if o.Streams <= 0 {
		o.Streams = d.Streams
	}
	if o.DataSize <= 0 {
		o.DataSize = d.DataSize
	}
	if o.Rate <= 0 {
		o.Rate = d.Rate
	}
	if o.Warmup == 0 {
		o.Warmup = d.Warmup
	}
	if o.Repetitions <= 0 {
		o.Repetitions = d.Repetitions
	}
	if o.PlainPollInterval <= 0 {
		o.PlainPollInterval = d.PlainPollInterval
	}
	return o
}

// appendStoreConfig is the append scenarios' store configuration.
func appendStoreConfig(o Options) postgres.Config {
	return postgres.Config{DisableNotify: o.DisableNotify, DisableGroupCommit: o.AppendInFlight < 0, AppendInFlight: max(o.AppendInFlight, 0)}
}

// groupNote describes the append scenario's group commit setting.
func groupNote(o Options) string {
	switch {
	case o.AppendInFlight < 0:
		return "; group commit off"
	case o.AppendInFlight == 0:
		return fmt.Sprintf("; group commit, %d transactions in flight", postgres.DefaultAppendInFlight)
	}
	return fmt.Sprintf("; group commit, %d transactions in flight", o.AppendInFlight)
}

func notifyNote(o Options) string {
	if o.DisableNotify {
		return " (NOTIFY hint disabled)"
	}
	return " (NOTIFY hint on, default 2 ms window)"
}
