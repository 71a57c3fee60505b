// Package postgres is the PostgreSQL event store.
//
// Appends run one statement, a call to the append_events function the
// migrations install, in the caller's transaction or in their own implicit
// one. That function takes the stream's advisory transaction lock before the
// first write (no transaction id is needed to take it), so concurrent writers
// of a stream obtain their ids in lock order and the (tx_id, position) global
// order agrees with every stream's version order. When the transaction already
// had an id — it wrote before, e.g. an append to another stream — the function
// compares that id with the stream's last writer's and refuses the append with
// eventlog.ErrAppendOrderConflict if it is smaller.
//
// Concurrent Appends share transactions (group commit, group.go): a batch
// is two plain SQL statements sent in one round trip as one implicit
// transaction (appendset.go), one that takes every stream's lock in key
// order and one, started after it, that reads the streams' versions,
// checks each append on its own and inserts the accepted ones' events. The
// PL/pgSQL append_events_batch of earlier releases stays in the schema for
// older binaries but is no longer called.
//
// Reads of the global log return only rows whose tx_id is below
// pg_snapshot_xmin(pg_current_snapshot()), keyset-paginated on
// (tx_id, position), so a reader never passes a transaction that has not
// finished. See Horizon for what holds that horizon back. A batch that is
// not full moves its cursor past filtered-out rows to the last row below the
// horizon, fetched by the same statement, never to the horizon itself.
//
// Wake-ups are at most one pg_notify per window (NOTIFY serialises the
// commits of the transactions that send one, cluster wide). An append
// transaction that starts when the window is open carries it in its own
// statement, so its commit is the wake-up; appends committed while the
// window was closed ask for one, sent by the next append transaction or,
// if none comes within the window, by the store's notifier on its own. A
// process's Tailer listens on a dedicated connection (Listener) and polls
// adaptively either way, so notifications are only a latency hint and may
// be turned off.
//
// Maintenance of the events table is the store's too: Restamp (after a move
// to another cluster) and ApplyRetention (deleting old events of a
// category). Other stores' tables that hold positions or event ids are
// described by those stores (PositionColumns, RetentionGuard) and passed in,
// so every statement over the events table is in this package and none over
// theirs.
package postgres
