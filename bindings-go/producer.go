package shmlane

// The writing end of a ring, for both kinds.
//
// SPSC (Lamport's ring, as ring/src/spsc.rs): the producer owns tail, the next
// position to write, kept in a local variable, and a cached copy of the
// consumer's head, re-read (acquire) only when the ring looks full. Publishing
// is one release store of tail, for one message or a whole batch.
//
// MPMC (Vyukov's bounded queue, as ring/src/mpmc.rs): a producer claims
// position tail when the stamp of its slot says free (stamp == tail), by a
// compare-and-swap of tail (several consecutive free slots at once for a
// batch), writes the slot in place and publishes it with the release store of
// stamp = position+1, or (position+1)|SKIP when the reservation is abandoned.
// Each claim is announced in the producer's participant record first, and a
// producer that finds the ring full at a slot a dead consumer holds releases
// it (recovery.go).

import (
	"context"
	"sync/atomic"
)

// Producer is the writing end of a ring, of either kind.
//
// A Producer is not safe for concurrent use by several goroutines (like the
// Rust handle's &mut self): give each goroutine its own, or guard it. It has
// at most one reservation outstanding: reserving again abandons an uncommitted
// slot or batch (as Abort does). Call Close when done: it marks the
// participant record closed, so consumers see Disconnected once drained.
type Producer struct {
	// Padding keeps the handle's hot words off the cache lines of whatever
	// the allocator put next to it (say, the peer handle of another thread).
	_          [128]byte
	a          attached
	tail       uint64 // SPSC: local copy of our position, the next slot to write
	cachedHead uint64 // SPSC: last head read from shared memory
	consumer   peerWatch
	consumers  roleWatch
	waker      waker   // wakes consumers sleeping on the data line
	sleeper    sleeper // sleeps on the space line in blocking calls
	// MPMC: the positions this producer is claiming or holds, announced for
	// crash recovery, and the cleaner of slots whose consumer died holding them.
	intent  claimIntent
	cleaner cleaner
	m       membership

	token        uint64 // identifies the outstanding reservation
	pending      uint8
	pendingPos   uint64
	pendingCount uint64
	_            [128]byte
}

// JoinProducer joins the ring as a producer: the producer of an SPSC ring (a
// previous producer that died is taken over: this one continues at the
// position the dead one last published), or one of the producers of an MPMC
// ring. Errors: ErrRoleTaken while another SPSC producer lives,
// ErrTooManyParticipants when every MPMC record is held, ErrCorrupt, ErrClosed.
func (r *Ring) JoinProducer() (*Producer, error) {
	if r.closed.Load() || !r.acquire() {
		return nil, ErrClosed
	}
	p, err := joinProducer(r)
	if err != nil {
		r.release()
		return nil, err
	}
	return p, nil
}

func joinProducer(r *Ring) (*Producer, error) {
	a, err := attach(r, r.geo.Kind)
	if err != nil {
		return nil, err
	}
	p := &Producer{a: a}
	if a.mpmc {
		if p.m, err = claimAnyRecord(r, roleProducer); err != nil {
			return nil, err
		}
		countJoin(r, roleProducer)
		p.consumers = newRoleWatch(roleConsumer)
		p.intent = newClaimIntent(r, p.m.record)
		p.cleaner = newCleaner(roleConsumer)
	} else {
		if p.m, err = claimRecord(r, 0, roleProducer); err != nil {
			return nil, err
		}
		p.consumer = newPeerWatch(1)
		head, tail, err := a.positions()
		if err != nil {
			p.m.leave(r)
			return nil, err
		}
		p.cachedHead, p.tail = head, tail
	}
	p.waker = newWaker(r, dataWaitLineOffset, p.m.record)
	p.sleeper = newSleeper(r, spaceWaitLineOffset, p.m.record, roleConsumer)
	return p, nil
}

// MaxPayload returns the largest message the ring carries.
func (p *Producer) MaxPayload() int { return int(p.a.maxPayload) }

// Capacity returns the number of slots of the ring.
func (p *Producer) Capacity() int { return int(p.a.capacity) }

// Close abandons an outstanding reservation, marks the participant record
// closed, releases its lock and wakes consumers asleep on the ring.
func (p *Producer) Close() error {
	if p.a.closed {
		return ErrClosed
	}
	p.abandon()
	p.sleeper.deregister()
	p.m.leave(p.a.ring)
	// A consumer asleep on an empty ring wakes to find us gone.
	p.waker.wakeOnLeave()
	p.a.closed = true
	p.token++
	p.a.ring.release()
	return nil
}

// WaitStrategy returns how the blocking calls wait.
func (p *Producer) WaitStrategy() WaitStrategy { return p.sleeper.strategy }

// SetWaitStrategy sets how the blocking calls wait.
func (p *Producer) SetWaitStrategy(s WaitStrategy) {
	p.sleeper.strategy = s.normalized()
	p.sleeper.deregister()
}

// IsDisconnected reports whether the consumer (SPSC) or every consumer that
// ever joined (MPMC) has closed or died, as of a fresh look at the locks.
func (p *Producer) IsDisconnected() bool {
	if p.a.closed {
		return true
	}
	if p.a.mpmc {
		p.consumers = newRoleWatch(roleConsumer)
		return p.consumers.check(p.a.ring) == peerGone
	}
	p.consumer = newPeerWatch(1)
	return p.consumer.check(p.a.ring) == peerGone
}

// ---- SPSC ----

// refreshHead re-reads the consumer's position; returns the free slots.
func (p *Producer) refreshHead() (uint64, error) {
	// Ordering: acquire, pairs with the release store of head in
	// Consumer.releaseSPSC (Go) and Consumer::release (Rust): the consumer is
	// done with every slot before head.
	head := atomic.LoadUint64(p.a.headWord)
	used := p.tail - head
	if used > p.a.capacity {
		return 0, corruptPositions(head, p.tail, p.a.capacity)
	}
	p.cachedHead = head
	return p.a.capacity - used, nil
}

// spscFree makes sure at least one slot is free, re-reading head if fewer than
// wanted are known free; returns the free count.
func (p *Producer) spscFree(wanted uint64) (uint64, error) {
	if free := p.a.capacity - (p.tail - p.cachedHead); free >= wanted {
		return free, nil
	}
	return p.spscFreeSlow()
}

//go:noinline
func (p *Producer) spscFreeSlow() (uint64, error) {
	free, err := p.refreshHead()
	if err != nil || free > 0 {
		return free, err
	}
	if p.consumer.check(p.a.ring) == peerGone {
		// The consumer may have released slots just before it left.
		if free, err = p.refreshHead(); err != nil || free > 0 {
			return free, err
		}
		return 0, ErrDisconnected
	}
	return 0, ErrFull
}

// publishSPSC publishes count more slots with one store.
func (p *Producer) publishSPSC(count uint64) {
	p.tail += count
	// Ordering: release, pairs with the acquire load of tail in
	// Consumer.refreshTail (Go) and Consumer::refresh_tail (Rust): the slot
	// bytes written before are visible to the consumer that sees the new tail.
	storeRelease64(p.a.tailWord, p.tail)
	p.waker.notify()
}

// ---- MPMC ----

// claim claims up to wanted consecutive free slots; returns the first
// position and the count. Each attempt is announced in the intent first; every
// return without a claim goes through noClaim.
func (p *Producer) claim(wanted uint64) (uint64, uint64, error) {
	a := &p.a
	for attempt := 0; attempt < MaxAttempts; attempt++ {
		// Ordering: acquire, pairs with the exchange of tail below by
		// whichever producer moved it here, so the stamp of slot tail reads at
		// least as what its claimer saw one lap ago.
		tail := atomic.LoadUint64(a.tailWord)
		// Ordering: acquire, pairs with the release store of the stamp in
		// Consumer.releaseSlots (Go) and Consumer::release_slots (Rust).
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
			if err := p.fullOrDisconnected(tail, stamp); err != nil {
				return 0, 0, p.noClaim(err)
			}
		} else if positionDidNotMove(a.tailWord, tail) {
			return 0, 0, p.noClaim(corruptStamp(tail, stamp))
		}
		// Another producer claimed tail first, or recovery freed the slot;
		// look again.
		cpuRelax()
	}
	return 0, 0, p.noClaim(ErrFull)
}

// noClaim ends a claim call that returns err without a claim: it leaves no
// announcement behind, so that a position another handle won is not taken
// for ours.
func (p *Producer) noClaim(err error) error {
	p.intent.clear()
	return err
}

// fullOrDisconnected is ErrFull, ErrDisconnected, or nil to look again after
// recovery freed the slot of tail, found holding stamp, the message of the
// previous lap.
//
//go:noinline
func (p *Producer) fullOrDisconnected(tail, stamp uint64) error {
	// If a consumer claimed the previous lap's message and died, free the slot.
	a := &p.a
	previous := tail - a.capacity
	if distance(stamp, previous+1) == 0 &&
		p.cleaner.onStall(a.ring, a.stamp(tail), previous, stamp, a.headWord, a.capacity) {
		return nil
	}
	if p.consumers.check(p.a.ring) == peerGone {
		// A consumer may have released the slot just before it left.
		if distance(atomic.LoadUint64(p.a.stamp(tail)), tail) >= 0 {
			return ErrFull
		}
		return ErrDisconnected
	}
	return ErrFull
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

// ---- reservations ----

// abandon gives up the outstanding reservation: nothing in an SPSC ring; an
// MPMC reservation is handed on marked to be skipped, since other producers
// may already hold the positions after it.
func (p *Producer) abandon() {
	if p.pending == pendingNone {
		return
	}
	if p.a.mpmc {
		for i := uint64(0); i < p.pendingCount; i++ {
			p.publishMPMC(p.pendingPos+i, true)
		}
		if p.pendingCount > 0 {
			// Sleeping consumers wake to skip it and reach the slots after it.
			p.waker.notify()
		}
	}
	p.pending = pendingNone
}

func (p *Producer) hold(kind uint8, position, count uint64) uint64 {
	p.token++
	p.pending, p.pendingPos, p.pendingCount = kind, position, count
	return p.token
}

// WriteSlot is a reserved slot, written in place. It is a small value; the
// hot path allocates nothing. Its Bytes are valid only until Commit, Abort,
// the producer's next reserve, or Close.
//
// (Two words, so that it travels in registers: a larger struct returned by
// value costs the Go compiler's code store-forwarding stalls per message.)
type WriteSlot struct {
	p     *Producer
	token uint64
}

// Bytes returns the slot's payload, MaxPayload bytes, to write the message
// into. Valid until Commit or Abort; nil for a slot no longer held.
func (s WriteSlot) Bytes() []byte {
	p := s.p
	if p == nil || p.token != s.token || p.pending != pendingSlot {
		return nil
	}
	return p.a.payload(p.pendingPos, p.a.maxPayload)
}

// Commit publishes the first n bytes of the slot as one message. ErrStaleSlot
// if the slot is no longer held; ErrMessageTooLarge (or ErrWrongMessageSize in
// a fixed-size ring) if n does not suit the ring, in which case the slot is
// abandoned as by Abort.
func (s WriteSlot) Commit(n int) error {
	p := s.p
	if p == nil || p.token != s.token || p.pending != pendingSlot {
		return ErrStaleSlot
	}
	if !p.a.lenOK(n) {
		p.abandon()
		return p.a.checkLen(n)
	}
	position := p.pendingPos
	p.a.setLen(position, n)
	p.pending = pendingNone
	if p.a.mpmc {
		p.publishMPMC(position, false)
		p.waker.notify()
	} else {
		p.publishSPSC(1)
	}
	return nil
}

// Abort gives the slot up uncommitted: consumers never see it (in an MPMC
// ring it travels marked to be skipped). A no-op on a slot no longer held.
func (s WriteSlot) Abort() {
	if p := s.p; p != nil && p.token == s.token && p.pending == pendingSlot {
		p.abandon()
	}
}

// TryReserve reserves the next slot for writing in place, without waiting.
// Errors: ErrFull when no slot is free; ErrDisconnected when the ring is full
// and the consumers have closed or died; ErrCorrupt when shared memory holds
// an impossible position or stamp; ErrClosed. In an MPMC ring, a slot whose
// consumer died holding its message is released (the message counted lost in
// RingInfo.LostMessages) once it has kept the ring full for a millisecond.
func (p *Producer) TryReserve() (WriteSlot, error) {
	if p.a.closed {
		return WriteSlot{}, ErrClosed
	}
	if p.pending != pendingNone {
		p.abandon()
	}
	var position uint64
	if p.a.mpmc {
		var err error
		if position, _, err = p.claim(1); err != nil {
			return WriteSlot{}, err
		}
	} else {
		if _, err := p.spscFree(1); err != nil {
			return WriteSlot{}, err
		}
		position = p.tail
	}
	return p.slotAt(position), nil
}

func (p *Producer) slotAt(position uint64) WriteSlot {
	token := p.hold(pendingSlot, position, 1)
	return WriteSlot{p: p, token: token}
}

// Reserve reserves the next slot, waiting as the producer's WaitStrategy says
// until one is free or ctx is done. Errors: as TryReserve but never ErrFull;
// on ctx's deadline an error matching both ErrTimeout and
// context.DeadlineExceeded; on cancellation ctx.Err().
func (p *Producer) Reserve(ctx context.Context) (WriteSlot, error) {
	if p.a.closed {
		return WriteSlot{}, ErrClosed
	}
	p.abandon()
	position, _, err := blockOn(ctx, p, 1)
	if err != nil {
		return WriteSlot{}, err
	}
	if !p.a.mpmc {
		position = p.tail
	}
	return p.slotAt(position), nil
}

// TrySend copies message into the next slot and publishes it, without waiting.
func (p *Producer) TrySend(message []byte) error {
	if err := p.a.checkLen(len(message)); err != nil {
		return err
	}
	slot, err := p.TryReserve()
	if err != nil {
		return err
	}
	copy(slot.Bytes(), message)
	return slot.Commit(len(message))
}

// Send copies message into the next slot and publishes it, waiting for a free
// slot as Reserve does.
func (p *Producer) Send(ctx context.Context, message []byte) error {
	if err := p.a.checkLen(len(message)); err != nil {
		return err
	}
	slot, err := p.Reserve(ctx)
	if err != nil {
		return err
	}
	copy(slot.Bytes(), message)
	return slot.Commit(len(message))
}

// waitable

func (p *Producer) attempt(wanted uint64) (uint64, uint64, error) {
	if p.a.mpmc {
		return p.claim(wanted)
	}
	free, err := p.spscFree(1)
	return p.tail, free, err
}

func (p *Producer) mayBeReady() bool {
	if p.a.mpmc {
		return true
	}
	// A hint only: the attempt that follows loads head with acquire.
	return atomic.LoadUint64(p.a.headWord) != p.cachedHead
}

func (p *Producer) lookAtPeersNow() {
	if p.a.mpmc {
		p.consumers = newRoleWatch(roleConsumer)
		p.cleaner.lookNow()
	} else {
		p.consumer = newPeerWatch(1)
	}
}

func (p *Producer) watchSeesLeaving() bool { return !p.a.mpmc }
func (p *Producer) waitRing() *Ring        { return p.a.ring }
func (p *Producer) waitSleeper() *sleeper  { return &p.sleeper }

// ---- batches ----

// WriteBatch is up to n reserved consecutive slots, published together. Its
// slices are valid only until Commit, CommitFirst, Abort, the producer's next
// reserve, or Close.
type WriteBatch struct {
	p        *Producer
	token    uint64
	position uint64
	count    int
}

// TryReserveBatch reserves up to max consecutive free slots (as many as are
// free; max == 0 gives an empty batch), without waiting. Every slot's length
// is 0 until set. Errors as TryReserve, when not even one slot is free.
func (p *Producer) TryReserveBatch(max int) (WriteBatch, error) {
	if p.a.closed {
		return WriteBatch{}, ErrClosed
	}
	p.abandon()
	if max <= 0 {
		return p.batchAt(0, 0), nil
	}
	if p.a.mpmc {
		position, count, err := p.claim(uint64(max))
		if err != nil {
			return WriteBatch{}, err
		}
		return p.batchAt(position, count), nil
	}
	free, err := p.spscFree(uint64(max))
	if err != nil {
		return WriteBatch{}, err
	}
	return p.batchAt(p.tail, min(free, uint64(max))), nil
}

// ReserveBatch reserves up to max consecutive slots, waiting as Reserve does
// until at least one is free.
func (p *Producer) ReserveBatch(ctx context.Context, max int) (WriteBatch, error) {
	if p.a.closed {
		return WriteBatch{}, ErrClosed
	}
	p.abandon()
	if max <= 0 {
		return p.batchAt(0, 0), nil
	}
	wanted := uint64(1)
	if p.a.mpmc {
		wanted = uint64(max)
	}
	position, count, err := blockOn(ctx, p, wanted)
	if err != nil {
		return WriteBatch{}, err
	}
	if !p.a.mpmc {
		position, count = p.tail, min(count, uint64(max))
	}
	return p.batchAt(position, count), nil
}

func (p *Producer) batchAt(position, count uint64) WriteBatch {
	for i := uint64(0); i < count; i++ {
		p.a.setLen(position+i, 0) // an unset slot publishes an empty message
	}
	token := p.hold(pendingBatch, position, count)
	return WriteBatch{p: p, token: token, position: position, count: int(count)}
}

// Len returns the number of slots in the batch.
func (b WriteBatch) Len() int { return b.count }

func (b WriteBatch) held() bool {
	return b.p != nil && b.p.token == b.token && b.p.pending == pendingBatch
}

func (b WriteBatch) positionOf(index int) uint64 {
	if index < 0 || index >= b.count {
		panic("shmlane: slot index outside the batch")
	}
	return b.position + uint64(index)
}

// Slot returns the payload bytes of slot index (MaxPayload of them); nil for
// a batch no longer held. It panics if index is out of range, as slice
// indexing does.
func (b WriteBatch) Slot(index int) []byte {
	position := b.positionOf(index)
	if !b.held() {
		return nil
	}
	return b.p.a.payload(position, b.p.a.maxPayload)
}

// SetLen sets the length of the message in slot index. ErrMessageTooLarge, or
// ErrWrongMessageSize in a fixed-size ring (whose lengths need no setting).
func (b WriteBatch) SetLen(index int, n int) error {
	position := b.positionOf(index)
	if !b.held() {
		return ErrStaleSlot
	}
	if err := b.p.a.checkLen(n); err != nil {
		return err
	}
	b.p.a.setLen(position, n)
	return nil
}

// Write copies message into slot index and sets its length.
func (b WriteBatch) Write(index int, message []byte) error {
	if err := b.SetLen(index, len(message)); err != nil {
		return err
	}
	copy(b.Slot(index), message)
	return nil
}

// Slices returns, in an SPSC ring of fixed-size messages, the batch's
// payloads as two contiguous byte runs: the slots up to the end of the ring,
// then those from its start (empty unless the batch wraps). ok is false for
// other rings, whose slots carry a length field or a stamp between payloads.
func (b WriteBatch) Slices() (first, second []byte, ok bool) {
	if b.p == nil || b.p.a.mpmc || !b.p.a.fixed || !b.held() {
		return nil, nil, false
	}
	first, second = runs(&b.p.a, b.position, uint64(b.count))
	return first, second, true
}

// runs are the bodies of count slots from position as at most two runs of
// whole slots (count <= capacity): to the end of the ring, then from its start.
func runs(a *attached, position, count uint64) ([]byte, []byte) {
	index := position & a.mask
	untilEnd := a.capacity - index
	firstCount := min(count, untilEnd)
	// In bounds: firstCount slots from index end at or before the last slot,
	// and the rest (< capacity) start at slot 0.
	first := a.payload(position, firstCount*a.slotSize)
	second := a.payload(0, (count-firstCount)*a.slotSize)
	return first, second
}

// Commit publishes every slot of the batch (one store in an SPSC ring).
func (b WriteBatch) Commit() error { return b.CommitFirst(b.count) }

// CommitFirst publishes the first n slots (at most the batch's length); the
// rest are given back unpublished (SPSC) or handed on marked to be skipped (MPMC).
func (b WriteBatch) CommitFirst(n int) error {
	if !b.held() {
		return ErrStaleSlot
	}
	p := b.p
	n = max(0, min(n, b.count))
	p.pending = pendingNone
	if p.a.mpmc {
		for i := 0; i < b.count; i++ {
			p.publishMPMC(b.position+uint64(i), i >= n)
		}
		if b.count > 0 {
			p.waker.notify()
		}
	} else if n > 0 {
		p.publishSPSC(uint64(n))
	}
	return nil
}

// Abort gives every slot of the batch up uncommitted.
func (b WriteBatch) Abort() {
	if b.held() {
		b.p.abandon()
	}
}
