// Package runtime is Causeway's composition root: it turns an App (the
// projections, sagas and subscriptions a program registers) and a Config
// (flags and environment, DATABASE_URL first) into a running process — the
// event store, checkpoint and saga stores, one worker for every
// subscription, the saga executor, the scheduler, the HTTP management API
// with health and Prometheus metrics — and gives a program the whole
// command line through Main:
//
//	func main() { runtime.Main(myapp.App()) }
//
//	myapp run                      # run everything until SIGINT/SIGTERM
//	myapp migrate                  # apply migrations and projection set-up
//	myapp status                   # subscriptions, partitions, lag, horizon
//	myapp replay order_summary     # rebuild one projection, with progress
//	myapp dlq list|show|retry|discard
//	myapp sagas list|show|retry|resume|cancel
//	myapp version
//
// Ops is the operations facade the command line and the HTTP API share.
package runtime
