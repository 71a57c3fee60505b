// Package projection builds read models from the event log.
//
// A Projection is a named subscription in transactional mode: each handler
// gets the decoded event, its envelope and the pgx.Tx in which the
// projection's checkpoint also moves, so a read model in PostgreSQL and the
// position it reflects always agree — exactly-once effects, whatever crashes.
//
//	p := projection.New("order_summary", projection.Options{Categories: []string{"order"}})
//	projection.Handle(p, "OrderPlaced", func(ctx context.Context, tx pgx.Tx, e eventlog.Event, v OrderPlaced) error {
//		_, err := tx.Exec(ctx, `INSERT INTO order_summary …`, …)
//		return err
//	})
//	p.OnSetup(func(ctx context.Context, tx pgx.Tx) error { … CREATE TABLE IF NOT EXISTS … })
//	p.OnReset(func(ctx context.Context, tx pgx.Tx) error { … TRUNCATE … })
//
// Events are decoded once, after upcasting: an Upcaster turns a stored old
// type or shape into the current one at read time. Events of the projection's
// categories with no handler are skipped and counted; data that does not
// decode is a permanent failure and goes to the dead letters.
//
// Replay rebuilds one projection: in one transaction it runs the reset hook,
// moves every partition's checkpoint back to the start and bumps every
// partition's epoch — which fences the workers running the projection: their
// next commit fails, they drop what they were doing and re-claim from the
// start, so old and new state never mix. Other subscriptions are untouched.
package projection
