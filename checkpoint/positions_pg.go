package checkpoint

import pgstore "github.com/causewayhq/causeway/eventlog/postgres"

// PositionColumns names the columns of this store's tables that hold log
// positions, for eventlog/postgres's Store.Restamp: partition checkpoints,
// subscriptions' start positions, dead letters' events and moves.
func (s *PostgresStore) PositionColumns() []pgstore.PositionColumns {
	return []pgstore.PositionColumns{
		{Table: "partitions", TxID: "tx_id", Seq: "position"},
		{Table: "subscriptions", TxID: "start_tx", Seq: "start_pos"},
		{Table: "dead_letters", TxID: "event_tx", Seq: "event_pos"},
		{Table: "subscription_moves", TxID: "from_min_tx", Seq: "from_min_pos"},
		{Table: "subscription_moves", TxID: "from_max_tx", Seq: "from_max_pos"},
		{Table: "subscription_moves", TxID: "to_tx", Seq: "to_pos"},
	}
}

// RetentionGuard describes what retention must keep for this store: no
// event after the lowest partition checkpoint, and every dead letter's
// event.
func (s *PostgresStore) RetentionGuard() pgstore.RetentionGuard {
	return pgstore.RetentionGuard{
		Positions: []pgstore.PositionColumns{{Table: "partitions", TxID: "tx_id", Seq: "position"}},
		EventIDs:  []pgstore.EventIDColumn{{Table: "dead_letters", Column: "event_id"}},
	}
}
