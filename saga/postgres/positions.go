package postgres

import pgstore "github.com/causewayhq/causeway/eventlog/postgres"

// PositionColumns names the columns of this store's tables that hold log
// positions, for eventlog/postgres's Store.Restamp: the inbox's events.
func (s *Store) PositionColumns() []pgstore.PositionColumns {
	return []pgstore.PositionColumns{{Table: "saga_inbox", TxID: "event_tx", Seq: "event_pos"}}
}

// RetentionGuard describes what retention must keep for this store: every
// event in a saga inbox.
func (s *Store) RetentionGuard() pgstore.RetentionGuard {
	return pgstore.RetentionGuard{EventIDs: []pgstore.EventIDColumn{{Table: "saga_inbox", Column: "event_id"}}}
}
