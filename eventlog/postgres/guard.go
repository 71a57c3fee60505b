package postgres

// RetentionGuard is what another store's tables hold of the log, which
// deleting old events (retention) must keep unless forced: no event after
// the lowest position in Positions (it is still to be processed), and no
// event whose id is in EventIDs (a row still refers to it). Each store
// describes its own tables (checkpoint.PostgresStore, saga.PostgresStore),
// so retention names none of them.
type RetentionGuard struct {
	Positions []PositionColumns
	EventIDs  []EventIDColumn
}

// EventIDColumn names a uuid column of a table (in the store's schema)
// that refers to events by id.
type EventIDColumn struct {
	Table  string
	Column string
}
