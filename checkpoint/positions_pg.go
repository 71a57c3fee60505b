package checkpoint

import pgstore "github.com/causewayhq/causeway/eventlog/postgres"

// PositionColumns names the columns of this store's tables that hold log
// positions, for eventlog/postgres's Store.Restamp: partition checkpoints,
// subscriptions' start positions and dead letters' events.
func (s *PostgresStore) PositionColumns() []pgstore.PositionColumns {
	return []pgstore.PositionColumns{
		{Table: "partitions", TxID: "tx_id", Seq: "position"},
		{Table: "subscriptions", TxID: "start_tx", Seq: "start_pos"},
		{Table: "dead_letters", TxID: "event_tx", Seq: "event_pos"},
	}
}
