// Package testkit runs a saga or a projection in a test without a runtime:
// the real engine — the subscription that starts sagas and files the events
// they wait for, the executor that runs their steps, the worker that runs a
// projection's handlers — over in-memory stores, with a fake clock that
// only moves when the test says so.
//
//	k := testkit.NewSaga[Fulfilment](t, def)
//	k.Publish(ctx, "order-1", testkit.Event("OrderPlaced", order))
//	k.RunUntilIdle(ctx)              // every step due now has run
//	k.Advance(ctx, 30*time.Minute)   // retries and timeouts within 30 min fire
//	inst := k.Instance("1")          // status, decoded state, history
//	k.Emitted()                      // the events the saga appended
//	k.Enqueued("mail")               // the messages its steps enqueued
//	k.Compensated("1")               // compensations that ran, in order
//
// A projection's handlers write SQL, so NewProjection runs them on a pool
// the test gives (a schema of its own, say), one transaction per batch
// committed together with the in-memory checkpoint as in production; the
// test then queries its tables.
//
// # Queues
//
// A saga kit has a memory queue store (worker/queue/memory, on the kit's
// clock) behind its saga store, so steps that Enqueue work as in
// production. Queues must be declared, as the application declares them:
// pass DeclareQueue options to NewSaga. An enqueue to an undeclared queue
// is refused as in production — the step fails for good and the saga
// compensates — so a forgotten declaration shows in the test. Enqueued
// lists what the steps enqueued to a queue (consumed since or not);
// Queues is the store itself, for a test that consumes like a worker.
//
// # Time
//
// The kit's Clock starts at Epoch and stands still. Steps, handlers and the
// engine's bookkeeping run in real time, but everything that is due later —
// a step's or a handler's retry after its backoff, a wait step's timeout —
// is due by the kit's clock (see worker.Clock), so it happens when the test
// advances the clock past it and never on its own. Advance moves through
// each scheduled moment on the way, as time would pass, so a policy's
// successive backoffs within the span all fire; AdvanceToNext jumps to the
// next one. Nothing in a test sleeps.
//
// # Idle
//
// RunUntilIdle returns when nothing is due at the clock's time: every event
// of the log handled (or dead-lettered and waiting for a retry), and no
// saga instance due or running a step. It checks the saga store, the
// subscriptions and the saga store again, and trusts the answer only when
// neither the log nor the store changed meanwhile, since a step's emitted
// event can start work for a subscription and the other way round. It
// fails the test if that does not happen within WithIdleTimeout (a step
// that hangs).
//
// # What differs from production
//
// Each subscription has one partition, so events are handled in log order
// (production keeps the same order per key). Leases, heartbeats and step
// deadlines stay on real time: they are about live processes. The memory
// stores have the PostgreSQL stores' semantics and pass the same
// conformance suites, but a saga's emitted events, its enqueued messages
// and its state are not written in one transaction there (everything is
// checked before anything is written; see saga.MemoryStore for the corner
// cases that can still leave part of a refused outcome).
package testkit
