package queue

import "sync"

// ackBox holds a consumer's acks for its next dequeue, when the store is
// an AckDequeuer: under a backlog, acking with the dequeue that refills
// the freed workers costs one commit per batch instead of two (one for the
// dequeue, one for the acker's AckMany), and the two no longer contend for
// WAL flushes. A worker puts its ack in the box before it reports itself
// free, so the dequeue that its freeing triggers carries it. When no
// dequeue is due (the queue is idle, every worker is busy, the consumer is
// stopping) the fetcher hands the box to the Runner's acker instead, so an
// ack never waits for a dequeue that is not coming.
type ackBox struct {
	mu     sync.Mutex
	acks   []ack
	direct bool // closed: acks go straight to the acker
	spare  []ack
}

// put keeps x for the next dequeue; false if the box is closed (the caller
// sends x to the acker).
func (b *ackBox) put(x ack) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.direct {
		return false
	}
	b.acks = append(b.acks, x)
	return true
}

// take empties the box. The slice is the caller's until the next take
// (only the fetcher takes).
func (b *ackBox) take() []ack {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.acks
	b.acks, b.spare = b.spare[:0], out
	return out
}

// handOff sends what the box holds to the acker.
func (b *ackBox) handOff(a *acker) {
	for _, x := range b.take() {
		a.add(x)
	}
}

// close sends what the box holds to the acker, and every later put too.
func (b *ackBox) close(a *acker) {
	b.mu.Lock()
	b.direct = true
	b.mu.Unlock()
	b.handOff(a)
}
