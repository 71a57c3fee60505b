// Package saga runs long-running workflows with compensation on the event
// log (Garcia-Molina & Salem, 1987): a saga either completes its steps
// T1 … Tn or, when Tk fails for good, runs the compensations C(k-1) … C1 in
// reverse — never a compensation for a step that did not complete, never a
// step again once it was recorded complete.
//
// # Shape
//
// A Definition has a typed state S (persisted as JSON), the event types that
// start it with a function giving the correlation id, and an ordered list of
// steps: actions with optional compensations, each with a retry policy and a
// timeout, and waits for a correlated event with a durable timeout.
//
// Two parts run it:
//
//   - a transactional subscription (one per definition, "saga:NAME") creates
//     an instance per correlation id, exactly once, in the same transaction
//     as its checkpoint, and files correlated events in an inbox for waiting
//     instances;
//   - the Executor claims runnable instances in short transactions
//     (FOR UPDATE SKIP LOCKED, set a lease, commit), runs one step at a time
//     outside any transaction with a deadline, and records each outcome —
//     state, next step, history — before it runs the next. A failed step's
//     next attempt time is persisted (no goroutine sleeps holding anything);
//     many executor processes share the work.
//
// A crash between a step's effect and its record re-runs that step, so
// steps get an idempotency key that is the same on every attempt:
// "<saga id>/<step>" for actions and "<saga id>/<step>/compensate".
//
// # Statuses
//
// running, waiting (for an event), compensating, completed, compensated,
// failed (a compensation ran out of retries: an operator must act), and
// cancelled (an operator gave up on a failed saga). Every attempt is in the
// instance's history.
package saga
