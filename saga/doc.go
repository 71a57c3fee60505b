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
// timeout, and waits for a correlated event with a durable timeout. It is
// declared with New and options; event types come from the Envelope[E] the
// callbacks take (eventlog.Named), and every callback takes ctx first:
//
//	d := saga.New[Fulfilment]("order_fulfilment",
//		saga.StartOn(func(ctx context.Context, e eventlog.Envelope[OrderPlaced]) (saga.Start[Fulfilment], error) {
//			return saga.Start[Fulfilment]{CorrelationID: e.Data.OrderID, State: Fulfilment{Order: e.Data}}, nil
//		}),
//		saga.Step("reserve", reserve, saga.Compensate(release), saga.Retry(policy)),
//		saga.WaitFor("paid", func(ctx context.Context, e eventlog.Envelope[PaymentConfirmed]) (string, error) {
//			return e.Data.OrderID, nil
//		}, saga.Timeout(time.Hour), saga.OnEvent(recordPayment)),
//		saga.Step("ship", ship),
//	)
//
// Options other than StartOn, Step and OnEvent are not generic, so Retry,
// Timeout and the like need no type argument; New checks that every typed
// option was written for S and reports mistakes through Err.
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
//     many executor processes share the work. With HandOff (as the runtime
//     wires them), the subscription creates a new instance already leased
//     to its process's executor and hands it over once its transaction
//     commits, so a new saga needs no claim (see handoff.go).
//
// A crash between a step's effect and its record re-runs that step, so
// steps get an idempotency key that is the same on every attempt:
// "<saga id>/<step>" for actions and "<saga id>/<step>/compensate".
//
// # Effects: emitted events and enqueued messages
//
// A step does not write to the log or a queue itself: StepContext.Emit and
// StepContext.Enqueue collect Effects, which the store writes with the
// step's outcome — in the transaction that stores the new state and the
// history entry, and only if the instance is still at the version the
// executor claimed. So a projection never shows, and a queue consumer
// (package worker/queue) never runs, the effect of a step that is not
// recorded complete; a failed attempt writes none of its effects; a step
// run twice (a retry, a crash before its record) writes them once, from
// the attempt whose outcome was recorded. Enqueued messages are at least
// once for their consumer as always, but a step's job is never lost nor
// doubled by the saga. Compensations may emit and enqueue too.
//
// # Stores
//
// The engine works through the Store interface and holds no SQL. The
// production store is saga/postgres (postgres.New over the PostgreSQL event
// log, enqueuing through worker/queue/postgres's EnqueueTx in the same
// schema); MemoryStore (NewMemory, with MemoryQueues for enqueues) has the
// same semantics, for tests and the test kit. Both run the saga/sagatest
// conformance suite, and both use CheckOutcome, RefuseEmit, RefuseEnqueue
// and StorableOutcome, which make the refusals and the stored text the
// same in every store.
//
// # Outcomes that cannot be stored
//
// Recording an outcome is retried while the database is away, but never
// when the outcome itself is refused (a *RefusedError): an emit whose
// expected version conflicts fails that attempt at once, as a retryable
// failure in the history, and the step runs again on fresh state under its
// retry policy; an invalid emit, an enqueue the queue refuses (a queue not
// declared, an invalid message, a message id already stored), or a state
// that cannot be encoded or that jsonb refuses, fails the step for good,
// so the saga compensates. A refused outcome writes none of its effects. Error
// text and panic values are stored sanitized (no NUL, valid UTF-8, at most
// MaxErrorText), so a failure can always be recorded.
//
// # Tracing and logs
//
// Each attempt of a step or compensation is an OpenTelemetry span,
// "causeway.saga.<phase> <type>/<step>", in the trace of the event that
// started the saga (its W3C traceparent is kept on the instance), and the
// events a step emits carry that span on. Failed attempts, compensations
// and failed sagas are logged with the correlation id and the trace id.
//
// # Statuses
//
// running, waiting (for an event), compensating, completed, compensated,
// failed (a compensation ran out of retries: an operator must act), and
// cancelled (an operator gave up on a failed saga). Every attempt is in the
// instance's history.
package saga
