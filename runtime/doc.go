// Package runtime is Causeway's composition root: it turns an App (the
// projections, sagas, subscriptions and queues a program registers) and a
// Config (flags and environment, DATABASE_URL first) into a running
// process — the event store, checkpoint, saga and queue stores, one worker
// for every subscription, the saga executor, the scheduler, the HTTP
// management API with health and Prometheus metrics — and gives a program
// the whole command line through Main:
//
//	func main() { runtime.Main(myapp.App()) }
//
//	myapp run                      # run everything until SIGINT/SIGTERM
//	myapp migrate                  # apply migrations and projection set-up
//	myapp status                   # subscriptions, partitions, lag, horizon
//	myapp replay order_summary     # rebuild one projection, with progress
//	myapp dlq list|show|retry|discard
//	myapp sagas list|show|retry|resume|cancel
//	myapp queues list|dead|show|requeue|discard
//	myapp version
//
// The runtime is the composition root and only that; its parts are
// packages of their own beneath it, none of which imports it:
//
//   - runtime/cli: the command line Main drives (Command, ParseFlags and
//     ErrUsage are here too, so an App is written with this package alone);
//   - runtime/api: the HTTP management API;
//   - runtime/ops: the operations the command line and the API share, with
//     their JSON shapes (Runtime.Ops);
//   - runtime/telemetry: metrics, tracing, OTLP export and logging;
//   - runtime/migrate: Causeway's migrations, for programs and tools that
//     migrate without a runtime;
//   - runtime/testkit: run a saga or a projection in a unit test, on memory
//     stores with a controllable clock.
package runtime
