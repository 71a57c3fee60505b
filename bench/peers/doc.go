// Package peers measures Causeway beside its peers on one PostgreSQL server
// in one run: DBOS Transact Go and River for durable workflows,
// watermill-sql for appends and catch-up, and plain pgx as the ceiling.
// It is a module of its own (bench/peers/go.mod, with a replace directive
// pointing at the repository root) so that the peers never enter the main
// module's go.mod, and `go test ./...` at the root does not build it.
//
//	cd bench/peers
//	go run ./cmd/peers --durable --reps 3 --json -v     # all scenarios
//	go run ./cmd/peers workflow-noop append              # some, fast settings
//	go test ./...                                        # the smoke test
//
// Without -url (or DATABASE_URL) the command starts a throwaway server
// from the machine's PostgreSQL binaries (internal/pgserver: Causeway's
// own launcher is internal to the main module); --durable keeps fsync,
// synchronous_commit and full_page_writes on, the headline setting.
//
// # Scenarios
//
//   - workflow-noop, workflow-insert: a three-step workflow whose steps do
//     nothing, or INSERT one row each. Causeway: a saga started by an
//     appended event, run by saga.Subscription in a worker and a
//     saga.Executor wired as runtime.Run wires them (its Transition hook
//     reports completions). DBOS: dbos.RunWorkflow with three
//     dbos.RunAsStep (insert: dbos.RunAsTransaction on a data source
//     sharing DBOS's pool, DBOS's way of writing application data with its
//     checkpoint). River: three job kinds, each worker inserting the next
//     job (InsertTx) and completing itself (JobCompleteTx) in one
//     transaction; completions come from Client.Subscribe. Throughput
//     starts Options.Workflows workflows from Options.Concurrency
//     goroutines inside the clock and stops it when the last completed;
//     the -latency results start them at Options.Rate per second and time
//     each from just before its start to its completion being reported.
//   - append: single-event appends from Options.Concurrency goroutines:
//     Causeway's Store.Append with the exact expected version, watermill-sql's
//     Publisher.Publish of one message, and a plain INSERT per transaction
//     into a table with the event log's unique keys.
//   - catchup-noop, catchup-upsert: Options.CatchUpEvents events, preloaded
//     into each arm's table with the same payloads, read from the start by
//     a fresh consumer into a handler that does nothing or upserts a read
//     model row: a Causeway projection in a worker, a watermill-sql
//     Subscriber with a fresh consumer group (the upsert through its
//     transaction, TxFromContext), and a plain keyset scan.
//
// Every run checks its counts: a workflow that does not complete, a step
// row or an upsert missing, fails the run.
//
// # Method
//
// The same as `runner bench` (cmd/runner/internal/bench): every arm gets
// the same number of repetitions (Options.Reps, 3 by default) and the arms
// alternate, rotating which goes first; each repetition's engine, schema
// and consumer are fresh and set up untimed. Each repetition records CPU
// time (Linux): this process's, the server's processes' and the machine's,
// reported per unit beside the rate. Before each repetition the harness
// waits (up to -quiet-wait) for other processes to go idle; a repetition
// during which they used more than 20% of a core is run again, up to three
// attempts, keeping the least disturbed, and one that stays disturbed is
// flagged (Result.Disturbed, "DISTURBED" in Notes) rather than kept
// silently. The median repetition by rate (latency: by p99) is reported,
// every repetition listed in Notes.
package peers
