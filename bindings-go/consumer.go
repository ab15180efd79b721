package shmlane

// The reading end of a ring, for both kinds.
//
// SPSC: the consumer owns head, the next position to read, kept locally, and a
// cached copy of the producer's tail, re-read (acquire) only when the ring
// looks empty. Releasing is one release store of head, for one message or a
// batch. MPMC: a consumer claims position head when its stamp says committed
// (stamp == head+1), by a compare-and-swap of head, reads in place, and
// releases the slot with the release store of stamp = head+capacity. Each
// claim is announced in the consumer's participant record first, and a
// consumer that finds the ring empty at a position a dead producer claimed
// marks it to be skipped (recovery.go).

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync/atomic"
)

// Consumer is the reading end of a ring, of either kind.
//
// A Consumer is not safe for concurrent use by several goroutines. It has at
// most one message (or batch) borrowed at a time: the next read releases the
// previous one if it was not released. Call Close when done.
type Consumer struct {
	// Padding keeps the handle's hot words off the cache lines of whatever
	// the allocator put next to it (say, the peer handle of another thread).
	_          [128]byte
	a          attached
	head       uint64 // SPSC: local copy of our position, the next slot to read
	cachedTail uint64 // SPSC: last tail read from shared memory
	producer   peerWatch
	producers  roleWatch
	// MPMC: a claimed message handed back unread by TryRecv (its buffer was
	// too small): the next read returns it. The intent still covers it.
	held    bool
	heldPos uint64
	waker   waker   // wakes producers sleeping on the space line
	sleeper sleeper // sleeps on the data line in blocking calls
	// MPMC: the positions this consumer is claiming or holds, announced for
	// crash recovery, and the cleaner that turns the claims of producers that
	// died before committing into skips.
	intent  claimIntent
	cleaner cleaner
	m       membership

	token        uint64
	pending      uint8
	pendingPos   uint64
	pendingCount uint64
	pendingLen   uint64 // length of the borrowed single message
	_            [128]byte
}

// JoinConsumer joins the ring as a consumer: the consumer of an SPSC ring (a
// previous consumer that died is taken over at the position it last released:
// a message it was reading is delivered again), or one of the consumers of an
// MPMC ring. Errors as JoinProducer.
func (r *Ring) JoinConsumer() (*Consumer, error) {
	if r.closed.Load() || !r.acquire() {
		return nil, ErrClosed
	}
	c, err := joinConsumer(r)
	if err != nil {
		r.release()
		return nil, err
	}
	return c, nil
}

func joinConsumer(r *Ring) (*Consumer, error) {
	a, err := attach(r, r.geo.Kind)
	if err != nil {
		return nil, err
	}
	c := &Consumer{a: a}
	if a.mpmc {
		if c.m, err = claimAnyRecord(r, roleConsumer); err != nil {
			return nil, err
		}
		countJoin(r, roleConsumer)
		c.producers = newRoleWatch(roleProducer)
		c.intent = newClaimIntent(r, c.m.record)
		c.cleaner = newCleaner(roleProducer)
	} else {
		if c.m, err = claimRecord(r, 1, roleConsumer); err != nil {
			return nil, err
		}
		c.producer = newPeerWatch(0)
		head, tail, err := a.positions()
		if err != nil {
			c.m.leave(r)
			return nil, err
		}
		c.head, c.cachedTail = head, tail
	}
	c.waker = newWaker(r, spaceWaitLineOffset, c.m.record)
	c.sleeper = newSleeper(r, dataWaitLineOffset, c.m.record, roleProducer)
	return c, nil
}

// MaxPayload returns the largest message the ring carries.
func (c *Consumer) MaxPayload() int { return int(c.a.maxPayload) }

// Capacity returns the number of slots of the ring.
func (c *Consumer) Capacity() int { return int(c.a.capacity) }

// Close releases a borrowed message or batch, marks the participant record
// closed, releases its lock and wakes producers asleep on the ring. (An MPMC
// message held back by TryRecv is released unread: lost with the consumer.)
func (c *Consumer) Close() error {
	if c.a.closed {
		return ErrClosed
	}
	c.releasePending()
	if c.held {
		c.held = false
		c.releaseSlots(c.heldPos, 1)
	}
	c.sleeper.deregister()
	c.m.leave(c.a.ring)
	// A producer asleep on a full ring wakes to find us gone.
	c.waker.wakeOnLeave()
	c.a.closed = true
	c.token++
	c.a.ring.release()
	return nil
}

// WaitStrategy returns how the blocking calls wait.
func (c *Consumer) WaitStrategy() WaitStrategy { return c.sleeper.strategy }

// SetWaitStrategy sets how the blocking calls wait.
func (c *Consumer) SetWaitStrategy(s WaitStrategy) {
	c.sleeper.strategy = s.normalized()
	c.sleeper.deregister()
}

// IsDisconnected reports whether the producer (SPSC) or every producer that
// ever joined (MPMC) has closed or died, as of a fresh look at the locks.
func (c *Consumer) IsDisconnected() bool {
	if c.a.closed {
		return true
	}
	if c.a.mpmc {
		c.producers = newRoleWatch(roleProducer)
		return c.producers.check(c.a.ring) == peerGone
	}
	c.producer = newPeerWatch(0)
	return c.producer.check(c.a.ring) == peerGone
}

// ---- SPSC ----

// refreshTail re-reads the producer's position; returns the published count.
func (c *Consumer) refreshTail() (uint64, error) {
	// Ordering: acquire, pairs with the release store of tail in
	// Producer.publishSPSC (Go) and Producer::publish (Rust): the bytes of
	// every slot before tail are visible.
	tail := atomic.LoadUint64(c.a.tailWord)
	available := tail - c.head
	if available > c.a.capacity {
		return 0, corruptPositions(c.head, tail, c.a.capacity)
	}
	c.cachedTail = tail
	return available, nil
}

// available makes sure at least one message is published, re-reading tail if
// fewer than wanted are known; returns the published count.
func (c *Consumer) available(wanted uint64) (uint64, error) {
	if n := c.cachedTail - c.head; n >= wanted {
		return n, nil
	}
	return c.availableSlow()
}

//go:noinline
func (c *Consumer) availableSlow() (uint64, error) {
	n, err := c.refreshTail()
	if err != nil || n > 0 {
		return n, err
	}
	if c.producer.check(c.a.ring) == peerGone {
		// Drain what the producer published before it left.
		if n, err = c.refreshTail(); err != nil || n > 0 {
			return n, err
		}
		return 0, ErrDisconnected
	}
	return 0, ErrEmpty
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

// ---- MPMC ----

// claim claims up to wanted consecutive committed messages (a slot to be
// skipped is claimed alone and released at once). Each attempt is announced
// in the intent first; every return without a claim goes through noClaim.
func (c *Consumer) claim(wanted uint64) (uint64, uint64, error) {
	if c.held {
		// Claimed (and announced) by an earlier call; the intent covers it.
		c.held = false
		return c.heldPos, 1, nil
	}
	for attempt := 0; attempt < MaxAttempts; attempt++ {
		position, count, err := c.claimOnce(wanted)
		if err != nil {
			return 0, 0, c.noClaim(err)
		}
		if count > 0 {
			return position, count, nil
		}
		cpuRelax()
	}
	return 0, 0, c.noClaim(ErrEmpty)
}

// noClaim ends a claim call that returns err without a claim: it leaves no
// announcement behind, so that a position another handle won is not taken
// for ours.
func (c *Consumer) noClaim(err error) error {
	c.intent.clear()
	return err
}

// claimOnce is one attempt: count 0 when another consumer moved head first,
// when the slot was to be skipped (and has been released), or when recovery
// moved the slot at head on.
func (c *Consumer) claimOnce(wanted uint64) (uint64, uint64, error) {
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
		count := uint64(1)
		for !skip && count < wanted && count < a.capacity {
			position := head + count
			// Ordering: acquire, as the load of the first stamp.
			if atomic.LoadUint64(a.stamp(position)) != position+1 {
				break // not committed yet, or to be skipped
			}
			count++
		}
		c.intent.announce(head, head+count)
		// Ordering: AcqRel in Rust. Decides ownership of [head, head+count);
		// its release also publishes the intent to cleaners.
		if !atomic.CompareAndSwapUint64(a.headWord, head, head+count) {
			return 0, 0, nil
		}
		c.intent.settled()
		if skip {
			c.releaseSlots(head, 1)
			return 0, 0, nil
		}
		return head, count, nil
	}
	if d < 0 {
		if d < -int64(a.capacity) {
			return 0, 0, corruptStamp(head, stamp)
		}
		// Not yet committed (nil: recovery moved it on, look again).
		return 0, 0, c.emptyOrDisconnected(head, stamp)
	}
	// Another consumer claimed head first; look again.
	if positionDidNotMove(a.headWord, head) {
		return 0, 0, corruptStamp(head, stamp)
	}
	return 0, 0, nil
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

// cleanAfterProducer reports whether the slot of head, found with stamp ==
// head (free, not committed), was claimed by a producer that died and is now
// marked to be skipped (by us or another consumer).
func (c *Consumer) cleanAfterProducer(head, stamp uint64) bool {
	return c.cleaner.onStall(c.a.ring, c.a.stamp(head), head, stamp, c.a.tailWord, c.a.capacity)
}

// emptyOrDisconnected is ErrEmpty, ErrDisconnected, or nil to look again
// after recovery moved the slot of head, found holding stamp (not committed),
// on.
//
//go:noinline
func (c *Consumer) emptyOrDisconnected(head, stamp uint64) error {
	// If a producer claimed it and died, mark it to be skipped.
	if stamp == head && c.cleanAfterProducer(head, stamp) {
		return nil
	}
	// Empty, as far as this consumer can tell, unless the producers are gone.
	if c.producers.check(c.a.ring) != peerGone {
		return ErrEmpty
	}
	// A producer may have committed just before it left: look again.
	// Committed, or taken by another consumer, is not drained.
	// Ordering: acquire, as in claimOnce.
	stamp = atomic.LoadUint64(c.a.stamp(head))
	if distance(stamp, head+1) >= 0 {
		return ErrEmpty
	}
	// Claimed but never committed, by a producer that is gone: messages
	// committed after it must still be delivered, so recover it now rather
	// than after the grace period; never Disconnected while tail > head.
	// Ordering: acquire, pairs with the producers' exchanges of tail.
	if tail := atomic.LoadUint64(c.a.tailWord); int64(tail-head) > 0 {
		c.cleaner.lookNow()
		if stamp == head && c.cleanAfterProducer(head, stamp) {
			return nil
		}
		return ErrEmpty
	}
	return ErrDisconnected
}

// releaseSlots frees count slots from position for the producers of the next
// lap, and wakes sleeping producers, if any.
func (c *Consumer) releaseSlots(position, count uint64) {
	for i := uint64(0); i < count; i++ {
		slot := position + i
		// Ordering: release, pairs with the acquire load of the stamp in
		// Producer.claim (Go) and Producer::claim (Rust): our reads of the
		// slot happen before its reuse.
		storeRelease64(c.a.stamp(slot), slot+c.a.capacity)
	}
	c.waker.notify()
}

// ---- borrowed messages ----

func (c *Consumer) releasePending() {
	switch c.pending {
	case pendingNone:
		return
	case pendingSlot, pendingBatch:
		if c.pendingCount > 0 {
			if c.a.mpmc {
				c.releaseSlots(c.pendingPos, c.pendingCount)
			} else {
				c.releaseSPSC(c.pendingCount)
			}
		}
	}
	c.pending = pendingNone
}

func (c *Consumer) hold(kind uint8, position, count uint64) uint64 {
	c.token++
	c.pending, c.pendingPos, c.pendingCount = kind, position, count
	return c.token
}

// skipCorrupt releases messages whose length is out of bounds and reports it.
func (c *Consumer) skipCorrupt(position, count uint64) error {
	if c.a.mpmc {
		c.releaseSlots(position, count)
	} else {
		c.releaseSPSC(count)
	}
	return fmt.Errorf("%w: message at position %d claims a length above the maximum of %d; %w",
		ErrCorrupt, position, c.a.maxPayload, errSkipped)
}

// ReadSlot is a message borrowed in place. It is a small value; the hot path
// allocates nothing. Its Bytes are valid only until Release, the consumer's
// next read, or Close.
// (Two words, so that it travels in registers.)
type ReadSlot struct {
	c     *Consumer
	token uint64
}

// Bytes returns the message. Valid until Release (or the next read); nil for
// a slot no longer held.
func (s ReadSlot) Bytes() []byte {
	c := s.c
	if c == nil || c.token != s.token || c.pending != pendingSlot {
		return nil
	}
	return c.a.payload(c.pendingPos, c.pendingLen)
}

// Len returns the message's length (0 for a slot no longer held).
func (s ReadSlot) Len() int { return len(s.Bytes()) }

// Release gives the slot back to the producers. A no-op on a slot no longer held.
func (s ReadSlot) Release() {
	if c := s.c; c != nil && c.token == s.token && c.pending == pendingSlot {
		c.releasePending()
	}
}

// TryRead borrows the next message in place, without waiting. Errors:
// ErrEmpty when no message is published; ErrDisconnected when the ring is
// drained and the producers have closed or died; ErrCorrupt when shared memory
// holds an impossible position or stamp, or a message length above the
// maximum (that message is skipped); ErrClosed. In an MPMC ring, a position
// whose producer died before committing it is skipped (counted in
// RingInfo.DroppedClaims) once it has kept the ring empty for a millisecond,
// or at once when every producer is gone: the messages after it are delivered
// before ErrDisconnected.
func (c *Consumer) TryRead() (ReadSlot, error) {
	if c.a.closed {
		return ReadSlot{}, ErrClosed
	}
	if c.pending != pendingNone {
		c.releasePending()
	}
	if c.a.mpmc {
		position, _, err := c.claim(1)
		if err != nil {
			return ReadSlot{}, err
		}
		return c.mpmcSlotAt(position)
	}
	if _, err := c.available(1); err != nil {
		return ReadSlot{}, err
	}
	return c.spscSlot()
}

func (c *Consumer) spscSlot() (ReadSlot, error) {
	position := c.head
	n, ok := c.a.readLen(position)
	if !ok {
		return ReadSlot{}, c.skipCorrupt(position, 1)
	}
	token := c.hold(pendingSlot, position, 1)
	c.pendingLen = n
	return ReadSlot{c: c, token: token}, nil
}

func (c *Consumer) mpmcSlotAt(position uint64) (ReadSlot, error) {
	n, ok := c.a.readLen(position)
	if !ok {
		return ReadSlot{}, c.skipCorrupt(position, 1)
	}
	token := c.hold(pendingSlot, position, 1)
	c.pendingLen = n
	return ReadSlot{c: c, token: token}, nil
}

// Read borrows the next message in place, waiting as the consumer's
// WaitStrategy says until one comes or ctx is done. Errors: as TryRead but
// never ErrEmpty; on ctx's deadline an error matching both ErrTimeout and
// context.DeadlineExceeded; on cancellation ctx.Err().
func (c *Consumer) Read(ctx context.Context) (ReadSlot, error) {
	if c.a.closed {
		return ReadSlot{}, ErrClosed
	}
	c.releasePending()
	position, _, err := blockOn(ctx, c, 1)
	if err != nil {
		return ReadSlot{}, err
	}
	if c.a.mpmc {
		return c.mpmcSlotAt(position)
	}
	return c.spscSlot()
}

// TryRecv copies the next message into buf and releases its slot; returns its
// length. ErrBufferTooSmall when the message does not fit: it stays with this
// consumer and its next read returns it. Otherwise as TryRead.
func (c *Consumer) TryRecv(buf []byte) (int, error) {
	slot, err := c.TryRead()
	if err != nil {
		return 0, err
	}
	return c.copyOut(slot, buf)
}

// Recv copies the next message into buf and releases its slot, waiting as
// Read does; returns its length.
func (c *Consumer) Recv(ctx context.Context, buf []byte) (int, error) {
	slot, err := c.Read(ctx)
	if err != nil {
		return 0, err
	}
	return c.copyOut(slot, buf)
}

func (c *Consumer) copyOut(slot ReadSlot, buf []byte) (int, error) {
	message := slot.Bytes()
	if len(message) > len(buf) {
		// Keep the message: SPSC leaves head where it is; MPMC holds the claim.
		if c.a.mpmc {
			c.held, c.heldPos = true, c.pendingPos
		}
		c.pending = pendingNone
		c.token++
		return 0, fmt.Errorf("%w: next message is %d bytes but the buffer holds %d; the next read returns it",
			ErrBufferTooSmall, len(message), len(buf))
	}
	n := copy(buf, message)
	c.releasePending()
	return n, nil
}

// Messages returns an iterator over the messages of the ring, read in place
// as Read does. Each slice is valid for one iteration only: it is released
// when the loop body returns. Iteration ends after yielding an error (ctx
// done, ErrDisconnected once the producers are gone and the ring is drained,
// ...), except the ErrCorrupt of a message with an impossible length, which
// was skipped, after which it goes on; other corruption (impossible positions
// or stamps) persists and ends it.
//
//	for msg, err := range consumer.Messages(ctx) {
//		if err != nil { ... ; break }
//		use(msg)
//	}
func (c *Consumer) Messages(ctx context.Context) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		for {
			slot, err := c.Read(ctx)
			if err != nil {
				if !yield(nil, err) || !errors.Is(err, errSkipped) {
					return
				}
				continue
			}
			more := yield(slot.Bytes(), nil)
			slot.Release()
			if !more {
				return
			}
		}
	}
}

// waitable

func (c *Consumer) attempt(wanted uint64) (uint64, uint64, error) {
	if c.a.mpmc {
		return c.claim(wanted)
	}
	n, err := c.available(1)
	return c.head, n, err
}

func (c *Consumer) mayBeReady() bool {
	if c.a.mpmc {
		return true
	}
	// A hint only: the attempt that follows loads tail with acquire.
	return atomic.LoadUint64(c.a.tailWord) != c.cachedTail
}

func (c *Consumer) lookAtPeersNow() {
	if c.a.mpmc {
		c.producers = newRoleWatch(roleProducer)
		c.cleaner.lookNow()
	} else {
		c.producer = newPeerWatch(0)
	}
}

func (c *Consumer) watchSeesLeaving() bool { return !c.a.mpmc }
func (c *Consumer) waitRing() *Ring        { return c.a.ring }
func (c *Consumer) waitSleeper() *sleeper  { return &c.sleeper }

// ---- batches ----

// ReadBatch is up to n consecutive messages borrowed in place, released
// together. Its slices are valid only until Release, the consumer's next
// read, or Close.
type ReadBatch struct {
	c        *Consumer
	token    uint64
	position uint64
	count    int
}

// TryReadBatch borrows up to max published messages (max == 0 gives an empty
// batch), without waiting. Errors as TryRead, when not even one message is
// published. A message with an impossible length ends an SPSC batch before it
// (the next call reports and skips it); an MPMC batch holding one is released
// and reported as ErrCorrupt.
func (c *Consumer) TryReadBatch(max int) (ReadBatch, error) {
	if c.a.closed {
		return ReadBatch{}, ErrClosed
	}
	c.releasePending()
	if max <= 0 {
		return c.batchAt(0, 0), nil
	}
	if c.a.mpmc {
		position, count, err := c.claim(uint64(max))
		if err != nil {
			return ReadBatch{}, err
		}
		return c.mpmcBatch(position, count)
	}
	n, err := c.available(uint64(max))
	if err != nil {
		return ReadBatch{}, err
	}
	return c.spscBatch(min(n, uint64(max)))
}

// ReadBatch borrows up to max messages, waiting as Read does for at least one.
func (c *Consumer) ReadBatch(ctx context.Context, max int) (ReadBatch, error) {
	if c.a.closed {
		return ReadBatch{}, ErrClosed
	}
	c.releasePending()
	if max <= 0 {
		return c.batchAt(0, 0), nil
	}
	wanted := uint64(1)
	if c.a.mpmc {
		wanted = uint64(max)
	}
	position, count, err := blockOn(ctx, c, wanted)
	if err != nil {
		return ReadBatch{}, err
	}
	if c.a.mpmc {
		return c.mpmcBatch(position, count)
	}
	return c.spscBatch(min(count, uint64(max)))
}

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

func (c *Consumer) mpmcBatch(position, count uint64) (ReadBatch, error) {
	for i := uint64(0); i < count; i++ {
		if _, ok := c.a.readLen(position + i); !ok {
			return ReadBatch{}, c.skipCorrupt(position, count)
		}
	}
	return c.batchAt(position, count), nil
}

func (c *Consumer) batchAt(position, count uint64) ReadBatch {
	token := c.hold(pendingBatch, position, count)
	return ReadBatch{c: c, token: token, position: position, count: int(count)}
}

// Len returns the number of messages in the batch.
func (b ReadBatch) Len() int { return b.count }

// Message returns message index of the batch, its length bounded again (it is
// re-read from shared memory; a length grown past the maximum since the batch
// was made reads as the maximum); nil for a batch no longer held. It panics
// if index is out of range.
func (b ReadBatch) Message(index int) []byte {
	if index < 0 || index >= b.count {
		panic("shmlane: message index outside the batch")
	}
	if c := b.c; c.token != b.token || c.pending != pendingBatch {
		return nil
	}
	position := b.position + uint64(index)
	n, _ := b.c.a.readLen(position)
	return b.c.a.payload(position, min(n, b.c.a.maxPayload))
}

// Slices returns, in an SPSC ring of fixed-size messages, the batch's
// messages as two contiguous byte runs (see WriteBatch.Slices); ok is false
// for other rings.
func (b ReadBatch) Slices() (first, second []byte, ok bool) {
	c := b.c
	if c == nil || c.a.mpmc || !c.a.fixed || c.token != b.token || c.pending != pendingBatch {
		return nil, nil, false
	}
	first, second = runs(&c.a, b.position, uint64(b.count))
	return first, second, true
}

// Release releases every message of the batch (one store in an SPSC ring).
func (b ReadBatch) Release() {
	if c := b.c; c != nil && c.token == b.token && c.pending == pendingBatch {
		c.releasePending()
	}
}
