package checkpoint

// Finding operators' retry requests without re-reading every dead letter.
//
// A worker loads a partition's blocked keys once, when it claims the
// partition (BlockedKeys), and keeps them in memory: only the partition's
// owner creates dead letters, so it knows every change but the operators'.
// Operators change dead letters in three ways:
//
//   - a retry (RequestRetry, RetryDeadLetters) flags the key's rows
//     retry_requested;
//   - a discard of a key's first dead letter flags the rest the same way
//     (they flow again, in order);
//   - a discard of a key's last dead letters leaves nothing to flag: the
//     key is simply free. Its owner learns it when an event of the key
//     comes (it re-reads that key, BlockedKeysOf, before parking the
//     event) or when its retry timer fires (nothing is left to retry).
//
// So a poll needs only the flagged rows: RetryRequests reads them through
// a partial index (dead_letters_retry_requested, migration 0018), in time
// proportional to the pending requests, however many dead letters wait.
// Moves and resets fence every partition; the next owner loads afresh.
