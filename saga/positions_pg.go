package saga

import pgstore "github.com/causewayhq/causeway/eventlog/postgres"

// PositionColumns names the columns of this store's tables that hold log
// positions, for eventlog/postgres's Store.Restamp: the inbox's events.
func (s *PostgresStore) PositionColumns() []pgstore.PositionColumns {
	return []pgstore.PositionColumns{{Table: "saga_inbox", TxID: "event_tx", Seq: "event_pos"}}
}
