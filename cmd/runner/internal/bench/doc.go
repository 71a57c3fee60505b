// Package bench measures Causeway — its event log, worker, projections and
// sagas — beside plain pgx doing the same I/O against the same server in the
// same run: the "ceiling" a thin layer over PostgreSQL could reach.
// `runner bench SCENARIO --json` (through Command) and the go test -bench
// wrappers in eventlog/postgres, worker, projection and saga share these
// workloads.
//
// # Scenarios
//
//   - append: single-event Store.Append (one event, its own transaction) from
//     16 goroutines over 10,000 streams partitioned among the goroutines, vs
//     single-row autocommit INSERTs from as many goroutines into the baseline
//     table. Goal: ours >= 70% of the baseline's events/s.
//   - append-batch: 100-event appends, each to a new stream, from 4
//     goroutines, vs the same rows in one commit three plain ways (one
//     INSERT … SELECT FROM unnest, a pgx.Batch of INSERTs, CopyFrom); the
//     fastest is the ceiling. Goal >= 60%.
//   - import: Store.Import (COPY in one transaction) vs pgx CopyFrom of the
//     same rows into the baseline table. No goal.
//   - catchup: reading a preloaded log (1,000,000 events by default) from the
//     start with Store.ReadBatch in batches of 1000 vs a plain keyset scan
//     over the same table on (tx_id, position). Goal >= 50%.
//   - latency: append-to-reader latency across processes. A child process
//     (this binary re-executed; see MaybeRunChild) follows the log with its
//     own pool, Store.Tailer and ReadBatch while this process appends 2,000
//     events at 200/s. Each event carries its send time; the child measures
//     against the same machine clock. Measured with notifications (latency)
//     and polling only (latency-poll); the ceiling is a child polling the
//     baseline table with a keyset query on position, sleeping 1 ms after
//     an empty poll. Goal: p50 < 10 ms and p99 < 50 ms.
//   - worker-catchup: a worker subscription with a no-op handler in
//     transactional mode (checkpoint.NewPostgres) catching up with a
//     preloaded log (1,000,000 events), at 1 and 8 partitions
//     (worker-catchup-p1, -p8), timed from worker start until every
//     partition's checkpoint reached the head (worker.Hooks.Committed), a
//     fresh subscription per repetition, vs the catchup scenario's plain
//     keyset scan of the same rows. Goal >= 50%.
//   - worker-upsert: the same at 8 partitions with a handler that upserts
//     each event into a read model keyed by stream (a counter and a sum;
//     INSERT … ON CONFLICT DO UPDATE through Delivery.Tx), over a log of
//     200,000 events, vs plain pgx reading the same rows with the keyset
//     scan, handing them to 8 goroutines by worker.PartitionOf and upserting
//     them, one statement per row and one transaction per batch gathered
//     like the worker's. Goal >= 80%.
//   - replay: projection.Replay (CatchUp) of the same read model defined
//     with projection.New, Handle, OnSetup and OnReset over 1,000,000
//     events, vs the same plain reader and upserter; it also reports the
//     Go heap and the process's peak RSS during the replay (Result.Extra).
//     Goal >= 80%, memory under 100 MiB.
//   - rebuild: rebuilding the same read model from 1,000,000 events into a
//     fresh schema beside the live one — today a new projection replayed
//     with projection.Replay (CatchUp) there; RebuildWorkload.Ours is the
//     one function to swap for the blue/green build API — vs the same
//     plain reader and upserter into a fresh table, both creating their
//     schema and table inside the timed run. Throughout each run a reader
//     goroutine queries the live read model (a complete table neither side
//     touches) at Options.Rate point lookups per second; reads per second,
//     p50/p99/max and misses are reported (a miss or a failed read fails
//     the run) with the Go heap and peak RSS, as replay. Goal >= 90%,
//     memory under 100 MiB.
//   - saga: a 3-step saga driven end to end by saga.Subscription in a
//     worker and a saga.Executor, its 5,000 start events appended inside
//     the clock (single-event appends from Options.Concurrency goroutines
//     while the saga runs; events are sagas): saga with no-op steps (goal
//     >= 1,500/s), saga-insert with one INSERT per step (goal >= 1,000/s),
//     saga-parked, no-op steps beside 100,000 sagas parked at a wait step
//     (Options.Parked), against the no-op run (goal ratio >= 0.9), the
//     three alternating; their p50/p99 are step durations. Then
//     saga-latency: start events appended at 200/s while the saga runs,
//     p50/p99 end to end from append to completion (goal p99 < 20 ms). No
//     plain-pgx baseline.
//
// Events are realistic order JSON of about 240 bytes (Options.DataSize) with
// a correlation id in metadata (about 55 bytes). The baseline table
// (PlainTableDDL) has the store's columns minus tx_id and the generated
// category, a bigint identity primary key and the same two unique keys,
// (stream_id, version) and event_id. Plain pgx gets its input pre-encoded
// (metadata already JSON); validation and encoding are part of ours.
//
// # Method
//
// Both sides run against the same server with the same settings, in one
// fresh schema per scenario, through pools of the same size. Each side is
// warmed up first (Options.Warmup events; catchup reads the whole log once)
// and then measured Options.Repetitions times (3 by default), the sides
// alternating (ours first in the 1st, 3rd, … repetitions, plain-pgx first
// in the others; with more sides the order rotates); the median repetition by
// events/s is reported and every repetition's rate is listed in the notes.
// Inputs are generated before the clock starts; the worker scenarios stop
// their worker after the clock.
//
// The benchmark process, PostgreSQL and anything else on the machine share
// its cores, so each repetition also records CPU time (Linux): this
// process's (getrusage), the server's (its processes in /proc, when it runs
// on this machine) and the machine's (/proc/stat). CPU microseconds per
// event are a steadier measure of cost than events/s, and the CPU used by
// other processes shows whether a repetition was disturbed: before each
// repetition the runner waits (up to Env.QuietWait) for other processes to
// go idle, and a repetition during which they still used more than 20% of
// a core is run again, up to three attempts, keeping the least disturbed.
// The latency scenarios run each mode once (with the same re-run rule).
// With -cpuprofile the command writes a CPU profile of this process in
// which every measured run is labelled with its scenario and side, so that
// one side can be looked at alone (go tool pprof -tagfocus side=ours).
//
// Nothing here mocks PostgreSQL: Env points at a real server, by default
// (Command without -url) a throwaway embedded cluster, fast (fsync,
// synchronous_commit and full_page_writes off, like the tests') or -durable
// (PostgreSQL's defaults).
package bench
