package shmlane

// SPSC: Lamport's ring, as docs/layout.md#spsc specifies. Each side keeps its
// own position locally and caches the other's, re-read (acquire) only when the
// ring looks full or empty; one release store of the own position publishes or
// releases one slot or a whole batch.

import "sync/atomic"

// refreshHead re-reads the consumer's position; returns the free slots.
func (p *Producer) refreshHead() (uint64, error) {
	// Ordering: acquire, pairs with the release store of head in
	// Consumer.releaseSPSC and Consumer.releaseSlot (Go) and
	// Consumer::release (Rust): the consumer is done with every slot before
	// head.
	head := atomic.LoadUint64(p.a.headWord)
	used := p.tail - head
	if used > p.a.capacity {
		return 0, corruptPositions(head, p.tail, p.a.capacity)
	}
	p.cachedHead = head
	return p.a.capacity - used, nil
}

// spscFree is the slow path of Producer.attempt, when fewer slots than
// wanted are known free: it re-reads head and, with none free, looks at the
// consumer's liveness; returns the free count, 0 for a full ring.
//
//go:noinline
func (p *Producer) spscFree() (uint64, error) {
	free, err := p.refreshHead()
	if err != nil || free > 0 {
		return free, err
	}
	if p.peersGone() {
		// The consumer may have released slots just before it left.
		if free, err = p.refreshHead(); err != nil || free > 0 {
			return free, err
		}
		return 0, ErrDisconnected
	}
	return 0, nil
}

// publishSPSC publishes count more slots with one store.
func (p *Producer) publishSPSC(count uint64) {
	p.tail += count
	// Ordering: release, pairs with the acquire load of tail in
	// Consumer.TryRead and Consumer.refreshTail (Go) and
	// Consumer::refresh_tail (Rust): the slot
	// bytes written before are visible to the consumer that sees the new tail.
	storeRelease64(p.a.tailWord, p.tail)
	p.waker.notify()
}

// refreshTail re-reads the producer's position; returns the published count.
func (c *Consumer) refreshTail() (uint64, error) {
	// Ordering: acquire, pairs with the release store of tail in
	// Producer.publishSPSC and WriteSlot.Commit (Go) and Producer::publish
	// (Rust): the bytes of every slot before tail are visible.
	tail := atomic.LoadUint64(c.a.tailWord)
	available := tail - c.head
	if available > c.a.capacity {
		return 0, corruptPositions(c.head, tail, c.a.capacity)
	}
	c.cachedTail = tail
	return available, nil
}

// spscAvailable is the slow path of Consumer.attempt, when fewer messages
// than wanted are known: it re-reads tail and, with none published, looks at
// the producer's liveness; returns the published count, 0 for an empty ring.
//
//go:noinline
func (c *Consumer) spscAvailable() (uint64, error) {
	n, err := c.refreshTail()
	if err != nil || n > 0 {
		return n, err
	}
	if c.peersGone() {
		// Drain what the producer published before it left.
		if n, err = c.refreshTail(); err != nil || n > 0 {
			return n, err
		}
		return 0, ErrDisconnected
	}
	return 0, nil
}

// releaseSPSC releases count slots to the producer with one store.
func (c *Consumer) releaseSPSC(count uint64) {
	c.head += count
	// Ordering: release, pairs with the acquire load of head in
	// Producer.refreshHead (Go) and Producer::refresh_head (Rust): our reads of
	// the slots happen before the producer reuses them.
	storeRelease64(c.a.headWord, c.head)
	c.waker.notify()
}

// spscBatch is the batch of up to available messages from head, ended before
// a message with an impossible length; one at head is released and reported.
func (c *Consumer) spscBatch(available uint64) (ReadBatch, error) {
	count := available
	if !c.a.fixed {
		count = 0
		for count < available {
			if _, ok := c.a.readLen(c.head + count); !ok {
				break
			}
			count++
		}
	}
	if count == 0 {
		return ReadBatch{}, c.skipCorrupt(c.head, 1)
	}
	return c.batchAt(c.head, count), nil
}
