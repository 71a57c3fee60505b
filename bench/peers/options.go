package peers

import "time"

// Options tunes the scenarios; zero fields take DefaultOptions' values.
type Options struct {
	// Reps is the measured repetitions per arm (>= 3 for the record).
	Reps int
	// Workflows is how many workflows each throughput repetition starts
	// and completes; LatencyWorkflows how many the latency run times
	// (after LatencyWarmup more) at Rate starts per second.
	Workflows, LatencyWorkflows, LatencyWarmup int
	Rate                                       float64
	// Concurrency is the number of goroutines starting workflows or
	// appending (and Causeway's saga executor concurrency, its default).
	Concurrency int
	// Appends per repetition (and AppendWarmup before the first), to
	// Streams streams partitioned among the goroutines.
	Appends, AppendWarmup, Streams int
	// CatchUpEvents is the size of the log each catch-up repetition reads.
	CatchUpEvents int
	// DataSize is the approximate size of each event's JSON data.
	DataSize int
	// RiverMaxWorkers is the River queue's MaxWorkers (River's README
	// example: 100); RiverFetchCooldown its FetchCooldown (0: River's
	// default, 100 ms).
	RiverMaxWorkers    int
	RiverFetchCooldown time.Duration
}

// DefaultOptions are `peers`' defaults.
func DefaultOptions() Options {
	return Options{Reps: 3, Workflows: 3000, LatencyWorkflows: 1000, LatencyWarmup: 100, Rate: 200, Concurrency: 16,
		Appends: 20_000, AppendWarmup: 2_000, Streams: 10_000, CatchUpEvents: 100_000, DataSize: 240, RiverMaxWorkers: 100}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	set := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&o.Reps, d.Reps)
	set(&o.Workflows, d.Workflows)
	set(&o.LatencyWorkflows, d.LatencyWorkflows)
	set(&o.Concurrency, d.Concurrency)
	set(&o.Appends, d.Appends)
	set(&o.Streams, d.Streams)
	set(&o.CatchUpEvents, d.CatchUpEvents)
	set(&o.DataSize, d.DataSize)
	set(&o.RiverMaxWorkers, d.RiverMaxWorkers)
	if o.LatencyWarmup == 0 {
		o.LatencyWarmup = d.LatencyWarmup
	}
	if o.AppendWarmup == 0 {
		o.AppendWarmup = d.AppendWarmup
	}
	if o.Rate <= 0 {
		o.Rate = d.Rate
	}
	return o
}
