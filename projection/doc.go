// Package projection builds read models from the event log.
//
// A Projection is a named subscription in transactional mode: each handler
// gets the decoded event, its envelope and the pgx.Tx in which the
// projection's checkpoint also moves, so a read model in PostgreSQL and the
// position it reflects always agree — exactly-once effects, whatever crashes.
//
//	p := projection.New("order_summary",
//		projection.Categories("order"),
//		projection.On(func(ctx context.Context, tx pgx.Tx, e eventlog.Envelope[OrderPlaced]) error {
//			_, err := tx.Exec(ctx, `INSERT INTO order_summary …`, e.Data.OrderID, …)
//			return err
//		}),
//		projection.OnSetup(func(ctx context.Context, tx pgx.Tx) error { … CREATE TABLE IF NOT EXISTS … }),
//		projection.OnReset(func(ctx context.Context, tx pgx.Tx) error { … TRUNCATE … }),
//	)
//
// The event type of a handler is its Envelope's type parameter's
// (eventlog.Named); OnType is the string form. Events are decoded once;
// upcasting happens before, in the log the projection reads (see
// eventlog.UpcastStore and runtime.App.Upcasters). Events of the projection's
// categories with no handler are skipped and counted; data that does not
// decode is a permanent failure and goes to the dead letters (Permanent marks
// a handler's own such errors; Retry sets the policy for the others).
//
// Replay rebuilds one projection: in one transaction it runs the reset hook,
// moves every partition's checkpoint back to the start and bumps every
// partition's epoch — which fences the workers running the projection: their
// next commit fails, they drop what they were doing and re-claim from the
// start, so old and new state never mix. Other subscriptions are untouched.
// Readers see the read model empty, then filling up, while it replays.
//
// A versioned projection (Version) is rebuilt blue/green instead: each build
// is a subscription of its own ("name#N") writing its unqualified tables
// into a schema of its own (search_path is set per transaction by a
// worker.BeforeTx hook), and readers read the live schema (Schema,
// LiveSchema), whose views Builds re-creates, in the transaction that
// switches builds, once a new build has caught up with the live one. Builds
// runs in every runner; see builds.go and swap.go for the guarantees.
//
// # Effects
//
// A handler may emit events (Emit) and enqueue messages (Enqueue) as
// effects of the event it handles, through the EffectsEnv its subscription
// was built with (SubscriptionWith; the runtime passes its event log and
// queues). Live, they run in the handler's transaction, so they commit or
// roll back with the read model and the checkpoint. They are idempotent:
// an event gets an id, and a message a deduplication key, derived from the
// projection's lineage (its name without a build's "#N"), the source
// event's id and the effect's index in the delivery, unless the handler set
// one; so handling an event again — a retry, a replay, another build —
// appends nothing new (messages: within the queue's deduplication window).
// While a build of a versioned projection catches up beside the live one,
// its effects are held back (Rebuilding reports it) in the table
// projection_effects; when it goes live, ReleaseEffects carries out those
// whose source event the previous live build had not handled yet, and the
// others are dropped: the live build already had them. Without an
// EffectsEnv, or without a transaction (the memory checkpoint store), Emit
// and Enqueue fail with ErrNoEffects.
package projection
