// Package postgres is the PostgreSQL saga.Store: instances, their history
// and the inbox of events filed for waits, in the Causeway schema's sagas,
// saga_history and saga_inbox tables (migrations in runtime/migrate).
//
// It is the only place that holds the saga tables' SQL: package saga, the
// engine, works through the saga.Store interface, whose in-memory
// implementation (saga.MemoryStore) has the same semantics; both run the
// saga/sagatest conformance suite.
//
// An outcome is recorded in one transaction: the emitted events, appended
// through the event log's AppendTx, the consumed inbox entry, then the
// instance at its claimed version and its history entry in one statement.
// Outcomes with no effects (most steps) go through a group commit instead
// (group.go): records from concurrent executor slots that queue while the
// store's record transactions (RecordInFlight, default 2) are busy are
// written by one statement in one transaction, each fenced on its own
// version; a failed batch re-runs each record alone. An instance parked at
// a wait step is recorded unleased until its deadline, and the same
// transaction then looks in its inbox: an event filed early makes it due at
// once, leased to the executor that parked it, so parking costs neither a
// claim nor a second record. A filing holds the instance's row lock until
// it commits, so an event filed while the instance parks is never missed
// (see AddInbox); batches skip rows so held instead of waiting for them.
//
// Claims go through the claim_sagas function (migration 0005), which walks
// the due index in order whatever the table's statistics say.
//
// The store also describes its tables to the event log's maintenance:
// PositionColumns for Restamp and RetentionGuard for retention (every event
// a saga inbox refers to is kept).
//
//	log, _ := pgstore.New(pool, pgstore.Config{Schema: "causeway"}) // eventlog/postgres
//	sagas, _ := postgres.New(log)
//	x, _ := saga.NewExecutor(saga.ExecutorConfig{Store: sagas, Log: log}, defs...)
package postgres
