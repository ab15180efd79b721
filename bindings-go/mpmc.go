package shmlane

// MPMC: Vyukov's bounded queue with a stamp per slot, as docs/layout.md#mpmc
// specifies. Handles claim positions by a compare-and-swap of tail or head,
// announced first for crash recovery (recovery.go), and hand each slot over
// through its stamp; retries are bounded by MaxAttempts.

import "sync/atomic"

// MaxAttempts is how many lost races (another handle moved the position
// first) an MPMC non-blocking call tolerates before it reports the ring full
// or empty: only a peer moving positions without publishing slots can cause it.
const MaxAttempts = 1 << 16

// distance is how far the position in stamp is from target, signed.
func distance(stamp, target uint64) int64 {
	return int64((stamp &^ stampSkip) - target)
}

func corruptStamp(position, stamp uint64) error {
	return corruptf("slot stamp %#x is more than a lap away from position %d", stamp, position)
}

// positionDidNotMove reports whether word still holds position although the
// slot of position bore a stamp ahead of it. On a sound ring that never
// happens: whoever stored that stamp did so after the exchange that moved the
// word past position, and the acquire load of the stamp made that exchange
// visible. An unmoved word means a stamp nobody wrote by the protocol, so the
// claim reports corruption at once instead of retrying MaxAttempts times.
func positionDidNotMove(word *uint64, position uint64) bool {
	// Ordering: acquire, as the loads of the word in the claims.
	return atomic.LoadUint64(word) == position
}

// claim claims up to wanted consecutive free slots; returns the first
// position and the count, 0 for a full ring. Each attempt is announced in the
// intent first; every return without a claim goes through noClaim.
func (p *Producer) claim(wanted uint64) (uint64, uint64, error) {
	a := &p.a
	for attempt := 0; attempt < MaxAttempts; attempt++ {
		// Ordering: acquire, pairs with the exchange of tail below by
		// whichever producer moved it here, so the stamp of slot tail reads at
		// least as what its claimer saw one lap ago.
		tail := atomic.LoadUint64(a.tailWord)
		// Ordering: acquire, pairs with the release store of the stamp in
		// Consumer.releaseSlots (Go) and MpmcReader::release (Rust).
		stamp := atomic.LoadUint64(a.stamp(tail))
		d := distance(stamp, tail)
		if d == 0 {
			count := uint64(1)
			for count < wanted && count < a.capacity {
				position := tail + count
				// Ordering: acquire, as the load of the first stamp.
				if distance(atomic.LoadUint64(a.stamp(position)), position) != 0 {
					break
				}
				count++
			}
			p.intent.announce(tail, tail+count)
			// Ordering: AcqRel in Rust. Decides ownership of [tail, tail+count);
			// its release also publishes the intent to cleaners.
			if atomic.CompareAndSwapUint64(a.tailWord, tail, tail+count) {
				p.intent.settled()
				return tail, count, nil
			}
		} else if d < 0 {
			if d < -int64(a.capacity) {
				return 0, 0, p.noClaim(corruptStamp(tail, stamp))
			}
			// The slot still holds the message of the previous lap.
			if again, err := p.fullOrDisconnected(tail, stamp); !again {
				return 0, 0, p.noClaim(err)
			}
		} else if positionDidNotMove(a.tailWord, tail) {
			return 0, 0, p.noClaim(corruptStamp(tail, stamp))
		}
		// Another producer claimed tail first, or recovery freed the slot;
		// look again.
		cpuRelax()
	}
	return 0, 0, p.noClaim(nil)
}

// fullOrDisconnected tells, for the slot of tail found holding stamp (the
// message of the previous lap), whether to look again (recovery freed it),
// or else whether the ring is full (err nil) or the consumers are gone
// (ErrDisconnected).
//
//go:noinline
func (p *Producer) fullOrDisconnected(tail, stamp uint64) (again bool, err error) {
	// If a consumer claimed the previous lap's message and died, free the slot.
	a := &p.a
	previous := tail - a.capacity
	if distance(stamp, previous+1) == 0 &&
		p.cleaner.onStall(a.ring, a.stamp(tail), previous, stamp, a.headWord, a.capacity) {
		return true, nil
	}
	if p.peersGone() {
		// A consumer may have released the slot just before it left.
		if distance(atomic.LoadUint64(a.stamp(tail)), tail) >= 0 {
			return false, nil
		}
		return false, ErrDisconnected
	}
	return false, nil
}

// publishMPMC publishes the slot of position, or marks it to be skipped.
func (p *Producer) publishMPMC(position uint64, skip bool) {
	stamp := position + 1
	if skip {
		stamp |= stampSkip
	}
	// Ordering: release, pairs with the acquire load of the stamp in
	// Consumer.claimOnce (Go) and Consumer::claim_once (Rust): the slot's
	// bytes are visible to its consumer.
	storeRelease64(p.a.stamp(position), stamp)
}

// claim claims up to wanted consecutive committed messages (a slot to be
// skipped is claimed alone and released at once); returns the first position
// and the count, 0 for an empty ring. Each attempt is announced in the intent
// first; every return without a claim goes through noClaim.
func (c *Consumer) claim(wanted uint64) (uint64, uint64, error) {
	if c.heldCount > 0 {
		// Claimed (and announced) by an earlier call; the intent covers them.
		position, count := c.heldPos, min(wanted, c.heldCount)
		c.heldPos, c.heldCount = position+count, c.heldCount-count
		return position, count, nil
	}
	for attempt := 0; attempt < MaxAttempts; attempt++ {
		position, count, again, err := c.claimOnce(wanted)
		if count > 0 {
			return position, count, nil
		}
		if !again {
			return 0, 0, c.noClaim(err)
		}
		cpuRelax()
	}
	return 0, 0, c.noClaim(nil)
}

// claimOnce is one attempt: count messages from position, or none (count 0)
// and either again, to look again (another consumer moved head first, the
// slot was to be skipped and has been released, or recovery moved the slot
// at head on), or not: the ring is empty (err nil), or err.
func (c *Consumer) claimOnce(wanted uint64) (position, count uint64, again bool, err error) {
	a := &c.a
	// Ordering: acquire, pairs with the exchange of head below, as in
	// Producer.claim.
	head := atomic.LoadUint64(a.headWord)
	// Ordering: acquire, pairs with the release store of the stamp in
	// Producer.publishMPMC (Go) and Producer::publish (Rust): the committed
	// message's bytes are visible once we see its stamp.
	stamp := atomic.LoadUint64(a.stamp(head))
	d := distance(stamp, head+1)
	if d == 0 {
		skip := stamp&stampSkip != 0
		count = 1
		for !skip && count < wanted && count < a.capacity {
			next := head + count
			// Ordering: acquire, as the load of the first stamp.
			if atomic.LoadUint64(a.stamp(next)) != next+1 {
				break // not committed yet, or to be skipped
			}
			count++
		}
		c.intent.announce(head, head+count)
		// Ordering: AcqRel in Rust. Decides ownership of [head, head+count);
		// its release also publishes the intent to cleaners.
		if !atomic.CompareAndSwapUint64(a.headWord, head, head+count) {
			return 0, 0, true, nil
		}
		c.intent.settled()
		if skip {
			c.releaseSlots(head, 1)
			return 0, 0, true, nil
		}
		return head, count, false, nil
	}
	if d < 0 {
		if d < -int64(a.capacity) {
			return 0, 0, false, corruptStamp(head, stamp)
		}
		// Not yet committed.
		again, err = c.emptyOrDisconnected(head, stamp)
		return 0, 0, again, err
	}
	// Another consumer claimed head first; look again.
	if positionDidNotMove(a.headWord, head) {
		return 0, 0, false, corruptStamp(head, stamp)
	}
	return 0, 0, true, nil
}

// cleanAfterProducer reports whether the slot of head, found with stamp ==
// head (free, not committed), was claimed by a producer that died and is now
// marked to be skipped (by us or another consumer).
func (c *Consumer) cleanAfterProducer(head, stamp uint64) bool {
	return c.cleaner.onStall(c.a.ring, c.a.stamp(head), head, stamp, c.a.tailWord, c.a.capacity)
}

// emptyOrDisconnected tells, for the slot of head found holding stamp (not
// committed), whether to look again (recovery moved it on), or else whether
// the ring is empty (err nil) or drained with the producers gone
// (ErrDisconnected).
//
//go:noinline
func (c *Consumer) emptyOrDisconnected(head, stamp uint64) (again bool, err error) {
	// If a producer claimed it and died, mark it to be skipped.
	if stamp == head && c.cleanAfterProducer(head, stamp) {
		return true, nil
	}
	// Empty, as far as this consumer can tell, unless the producers are gone.
	if !c.peersGone() {
		return false, nil
	}
	// A producer may have committed just before it left: look again.
	// Committed, or taken by another consumer, is not drained.
	// Ordering: acquire, as in claimOnce.
	stamp = atomic.LoadUint64(c.a.stamp(head))
	if distance(stamp, head+1) >= 0 {
		return false, nil
	}
	// Claimed but never committed, by a producer that is gone: messages
	// committed after it must still be delivered, so recover it now rather
	// than after the grace period; never Disconnected while tail > head.
	// Ordering: acquire, pairs with the producers' exchanges of tail.
	if tail := atomic.LoadUint64(c.a.tailWord); int64(tail-head) > 0 {
		c.cleaner.lookNow()
		if stamp == head && c.cleanAfterProducer(head, stamp) {
			return true, nil
		}
		return false, nil
	}
	return false, ErrDisconnected
}

// releaseSlots frees count slots from position for the producers of the next
// lap, and wakes sleeping producers, if any.
func (c *Consumer) releaseSlots(position, count uint64) {
	for i := uint64(0); i < count; i++ {
		slot := position + i
		// Ordering: release, pairs with the acquire load of the stamp in
		// Producer.claim (Go) and MpmcWriter::claim (Rust): our reads of the
		// slot happen before its reuse.
		storeRelease64(c.a.stamp(slot), slot+c.a.capacity)
	}
	c.waker.notify()
}

// mpmcBatch is the batch of the count claimed messages from position; if one
// has an impossible length, all are released and that is reported.
func (c *Consumer) mpmcBatch(position, count uint64) (ReadBatch, error) {
	for i := uint64(0); i < count; i++ {
		if _, ok := c.a.readLen(position + i); !ok {
			return ReadBatch{}, c.skipCorrupt(position, count)
		}
	}
	return c.batchAt(position, count), nil
}
