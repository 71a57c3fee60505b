-- Retry requests (an operator's retry, or the release of a key whose first
-- dead letter was discarded) are found through this partial index: a worker
-- keeps its partitions' blocked keys in memory and asks once per poll which
-- keys have a request, reading the requests only, not every dead letter.
-- See package checkpoint (RetryRequests).
CREATE INDEX dead_letters_retry_requested ON {{schema}}.dead_letters (subscription, partition, key)
    WHERE retry_requested;
