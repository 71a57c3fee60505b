package worker

import (
	"hash/fnv"

	"github.com/causewayhq/causeway/eventlog"
)

// KeyFunc returns the partition key of an event: events with equal keys are
// handled in order by one partition.
type KeyFunc func(e *eventlog.Event) string

// StreamKey is the default KeyFunc: the stream id.
func StreamKey(e *eventlog.Event) string { return e.StreamID }

// PartitionOf maps a key to one of n partitions with 32-bit FNV-1a over the
// key's bytes, mod n. The function is part of the stored format: changing
// it would move keys between partitions of existing subscriptions.
func PartitionOf(key string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}
