package shmlane

// What every producer and consumer handle holds, of either role and kind,
// written once: the geometry and slot addresses copied at join (attached),
// and the endpoint around them (the participant record, the liveness watch
// on the peers, the waker and sleeper of the wait lines, MPMC claim
// announcements and cleaning, the outstanding slot or batch). Producer and
// Consumer embed an endpoint and add only what their role does with slots
// (producer.go, consumer.go), per kind (spsc.go, mpmc.go).

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"unsafe"
)

// attached is what a producer or consumer handle copies out of the ring when
// it joins: typed pointers to the two position words, where the slots are, and
// the geometry values. The hot path reads no header field afterwards.
type attached struct {
	ring       *Ring
	mpmc       bool
	fixed      bool // every message is exactly maxPayload bytes
	capacity   uint64
	mask       uint64
	maxPayload uint64
	slotSize   uint64
	bodyOffset uint64 // offset of the body (length field, then payload) in a slot
	lenField   uint64 // 8, or 0 with fixed-size messages
	slots      unsafe.Pointer
	tailWord   *uint64
	headWord   *uint64
}

func attach(r *Ring) (attached, error) {
	g := &r.geo
	if g.TotalSize > uint64(len(r.data)) {
		return attached{}, corruptf("slots outside the mapping") // unreachable: validated at open
	}
	return attached{
		ring:       r,
		mpmc:       g.Kind == MPMC,
		fixed:      g.FixedSize,
		capacity:   g.Capacity,
		mask:       g.Mask,
		maxPayload: g.MaxPayload,
		slotSize:   g.SlotSize,
		bodyOffset: g.bodyOffsetInSlot(),
		lenField:   g.lenFieldSize(),
		// In bounds: the slots end at TotalSize, within the mapping (checked above).
		slots:    unsafe.Add(r.base, g.SlotsOffset),
		tailWord: r.u64At(tailOffset),
		headWord: r.u64At(headOffset),
	}, nil
}

// slotPtr is the start of the slot of position. In bounds: the index is masked
// below the capacity, and capacity*slotSize bytes of slots lie in the mapping.
func (a *attached) slotPtr(position uint64) unsafe.Pointer {
	return unsafe.Add(a.slots, (position&a.mask)*a.slotSize)
}

// stamp is the MPMC stamp of the slot of position: the slot's first 8 bytes,
// 8-aligned since slots start at a 128-byte boundary and their size is a
// multiple of 8.
func (a *attached) stamp(position uint64) *uint64 {
	return (*uint64)(a.slotPtr(position))
}

// lenWord is the message length field of the slot of position (not in
// fixed-size rings): 4 bytes at the body's start, inside the slot and 4-aligned.
func (a *attached) lenWord(position uint64) *uint32 {
	return (*uint32)(unsafe.Add(a.slotPtr(position), a.bodyOffset))
}

// payload is the payload of the slot of position, n bytes (n <= maxPayload:
// the payload starts slotHeaderSize = bodyOffset+lenField bytes into the slot
// and maxPayload more bytes end the slot).
func (a *attached) payload(position uint64, n uint64) []byte {
	return unsafe.Slice(a.payloadStart(position), n)
}

// copyMessage copies message to the start of dst (len(dst) >= len(message);
// they do not overlap: one is a slot, the other the caller's): messages of 8
// to 64 bytes by 8-byte words, without a call to memmove.
func copyMessage(dst, message []byte) {
	n := len(message)
	if n < 8 || n > 64 || len(dst) < n {
		copy(dst, message)
		return
	}
	// The last word ends with the message (overlapping the one before).
	last := n - 8
	binary.LittleEndian.PutUint64(dst[last:n], binary.LittleEndian.Uint64(message[last:n]))
	for i := 0; i < last; i += 8 {
		binary.LittleEndian.PutUint64(dst[i:n], binary.LittleEndian.Uint64(message[i:n]))
	}
}

// payloadStart is the first payload byte of the slot of position (in
// bounds as in payload).
func (a *attached) payloadStart(position uint64) *byte {
	return (*byte)(unsafe.Add(a.slotPtr(position), a.bodyOffset+a.lenField))
}

// payloadOffset is the offset from the slots of the first payload byte of
// the slot of position (in bounds as in payload).
func (a *attached) payloadOffset(position uint64) uint64 {
	return (position&a.mask)*a.slotSize + a.bodyOffset + a.lenField
}

// payloadFrom is n bytes of payload from offset (from payloadOffset), n <=
// maxPayload.
func (a *attached) payloadFrom(offset uint64, n uint64) []byte {
	return unsafe.Slice((*byte)(unsafe.Add(a.slots, offset)), n)
}

// lenFrom is the length of the message whose payload is at offset (from
// payloadOffset), bounded by maxPayload as readLen bounds it.
func (a *attached) lenFrom(offset uint64) (uint64, bool) {
	if a.fixed {
		return a.maxPayload, true
	}
	// The length field is the lenField bytes before the payload, inside the
	// slot. A plain read: the slot is ours by protocol. Its value is
	// bounded here.
	n := uint64(*(*uint32)(unsafe.Add(a.slots, offset-a.lenField)))
	return n, n <= a.maxPayload
}

// setLenFrom writes a checked length into the length field of the payload
// at offset (from payloadOffset); nothing to write in a fixed-size ring.
func (a *attached) setLenFrom(offset uint64, n int) {
	if !a.fixed {
		*(*uint32)(unsafe.Add(a.slots, offset-a.lenField)) = uint32(n)
	}
}

// readLen is the length of the message at position, bounded by maxPayload:
// ok is false for a length above it (corruption).
func (a *attached) readLen(position uint64) (uint64, bool) {
	if a.fixed {
		return a.maxPayload, true
	}
	// A plain read: the slot is ours by protocol. Its value is bounded here.
	n := uint64(*a.lenWord(position))
	return n, n <= a.maxPayload
}

// lenOK reports whether a message of n bytes suits the ring (the fast path
// of checkLen).
func (a *attached) lenOK(n int) bool {
	if a.fixed {
		return n == int(a.maxPayload)
	}
	return uint(n) <= uint(a.maxPayload)
}

func (a *attached) checkLen(n int) error {
	if a.fixed {
		if n != int(a.maxPayload) {
			return fmt.Errorf("%w: message of %d bytes in a ring of fixed-size messages of %d bytes",
				ErrWrongMessageSize, n, a.maxPayload)
		}
		return nil
	}
	if n < 0 || uint64(n) > a.maxPayload {
		return fmt.Errorf("%w: message of %d bytes exceeds the ring's maximum of %d bytes",
			ErrMessageTooLarge, n, a.maxPayload)
	}
	return nil
}

// setLen writes a checked length into the slot of position (nothing to write
// in a fixed-size ring).
func (a *attached) setLen(position uint64, n int) {
	if !a.fixed {
		*a.lenWord(position) = uint32(n)
	}
}

// positions reads both SPSC positions and checks 0 <= tail-head <= capacity.
func (a *attached) positions() (head, tail uint64, err error) {
	// Ordering: acquire on both, pairing with the release stores of the
	// positions: a handle taking over a dead one's role sees all it published.
	head = atomic.LoadUint64(a.headWord)
	tail = atomic.LoadUint64(a.tailWord)
	if tail-head > a.capacity {
		return 0, 0, corruptPositions(head, tail, a.capacity)
	}
	return head, tail, nil
}

func corruptPositions(head, tail, capacity uint64) error {
	return corruptf("positions head %d and tail %d are not within a capacity of %d", head, tail, capacity)
}

// runs are the bodies of count slots from position as at most two runs of
// whole slots (count <= capacity): to the end of the ring, then from its start.
func (a *attached) runs(position, count uint64) ([]byte, []byte) {
	index := position & a.mask
	untilEnd := a.capacity - index
	firstCount := min(count, untilEnd)
	// In bounds: firstCount slots from index end at or before the last slot,
	// and the rest (< capacity) start at slot 0.
	first := a.payload(position, firstCount*a.slotSize)
	second := a.payload(0, (count-firstCount)*a.slotSize)
	return first, second
}

// side is what a producer's endpoint and a consumer's differ by: the role
// codes, the records of an SPSC ring, and which wait line each uses.
type side struct {
	role           uint64 // roleProducer or roleConsumer
	peerRole       uint64
	spscRecord     uint32 // this role's record in an SPSC ring
	spscPeerRecord uint32
	wakeLine       uint64 // the wait line this role's publishes feed
	sleepLine      uint64 // the wait line this role's blocking calls sleep on
}

var (
	producerSide = side{role: roleProducer, peerRole: roleConsumer, spscRecord: 0, spscPeerRecord: 1,
		wakeLine: dataWaitLineOffset, sleepLine: spaceWaitLineOffset}
	consumerSide = side{role: roleConsumer, peerRole: roleProducer, spscRecord: 1, spscPeerRecord: 0,
		wakeLine: spaceWaitLineOffset, sleepLine: dataWaitLineOffset}
)

// What a handle has outstanding: the low bits of its token.
const (
	pendingNone uint64 = iota
	pendingSlot
	pendingBatch
	pendingKinds = 3 // the bits of the token that hold the kind
)

// endpoint is the part of a Producer or Consumer that does not depend on its
// role: its membership of the ring and everything around the slots it claims.
type endpoint struct {
	a      attached
	closed bool
	m      membership
	// The peers: the one peer's record (SPSC), or every record of the peer
	// role (MPMC).
	peer  peerWatch
	peers roleWatch
	// MPMC: the positions this handle is claiming or holds, announced for
	// crash recovery, and the cleaner of slots whose owner (a peer) died
	// holding them.
	intent  claimIntent
	cleaner cleaner
	waker   waker   // wakes the peers sleeping on the line our publishes feed
	sleeper sleeper // sleeps on the line the peers' publishes feed, in blocking calls

	// The outstanding slot or batch. Its guard (WriteSlot, WriteBatch,
	// ReadSlot, ReadBatch) holds a copy of token, a serial number of holds
	// times 4 plus the kind held; the kind bits go to pendingNone when it is
	// given back, so one comparison tells a guard still held.
	token        uint64
	pendingPos   uint64
	pendingCount uint64
	// The outstanding single slot's payload, as an offset from the slots
	// (payloadOffset(pendingPos)), computed once when it is reserved or
	// read, for its guard's Bytes. (An offset, not a pointer: storing a
	// pointer costs a write-barrier check.)
	pendingPayload uint64
}

// join joins r as s.role: it takes a reference on the mapping, claims a
// participant record (the SPSC role's own, or any free MPMC record), and
// makes the watches, waker and sleeper. head and tail are the SPSC positions
// at the join.
func (e *endpoint) join(r *Ring, s side) (head, tail uint64, err error) {
	if r.closed.Load() || !r.acquire() {
		return 0, 0, ErrClosed
	}
	if head, tail, err = e.claim(r, s); err != nil {
		r.release()
	}
	return head, tail, err
}

func (e *endpoint) claim(r *Ring, s side) (head, tail uint64, err error) {
	if e.a, err = attach(r); err != nil {
		return 0, 0, err
	}
	if e.a.mpmc {
		if e.m, err = claimAnyRecord(r, s.role); err != nil {
			return 0, 0, err
		}
		countJoin(r, s.role)
		e.peers = newRoleWatch(s.peerRole)
		e.intent = newClaimIntent(r, e.m.record)
		e.cleaner = newCleaner(s.peerRole)
	} else {
		if e.m, err = claimRecord(r, s.spscRecord, s.role); err != nil {
			return 0, 0, err
		}
		e.peer = newPeerWatch(s.spscPeerRecord)
		if head, tail, err = e.a.positions(); err != nil {
			e.m.leave(r)
			return 0, 0, err
		}
	}
	e.waker = newWaker(r, s.wakeLine, e.m.record)
	e.sleeper = newSleeper(r, s.sleepLine, e.m.record, s.peerRole)
	return head, tail, nil
}

// leave ends the handle once it gave back what it held: it marks the
// participant record closed, releases its lock, wakes the peers asleep on
// the ring (to find us gone) and drops the reference on the mapping.
func (e *endpoint) leave() {
	e.sleeper.deregister()
	e.m.leave(e.a.ring)
	e.waker.wakeOnLeave()
	e.sleeper.wakePeersOnLeave()
	e.closed = true
	e.a.ring.release()
}

// MaxPayload returns the largest message the ring carries.
func (e *endpoint) MaxPayload() int { return int(e.a.maxPayload) }

// Capacity returns the number of slots of the ring.
func (e *endpoint) Capacity() int { return int(e.a.capacity) }

// WaitStrategy returns how the blocking calls wait.
func (e *endpoint) WaitStrategy() WaitStrategy { return e.sleeper.strategy }

// SetWaitStrategy sets how the blocking calls wait.
func (e *endpoint) SetWaitStrategy(s WaitStrategy) {
	e.sleeper.strategy = s.normalized()
	e.sleeper.deregister()
}

// IsDisconnected reports whether the other side of the ring has closed or
// died, as of a fresh look at the locks: for a producer the consumer (SPSC)
// or every consumer that ever joined (MPMC), for a consumer the producers
// likewise. A closed handle is disconnected.
func (e *endpoint) IsDisconnected() bool {
	if e.closed {
		return true
	}
	e.forgetPeerChecks()
	return e.peersGone()
}

// peersGone reports whether the peers are gone, as the watches see them:
// their lock tests are rate-limited (participants.go).
func (e *endpoint) peersGone() bool {
	if e.a.mpmc {
		return e.peers.check(e.a.ring) == peerGone
	}
	return e.peer.check(e.a.ring) == peerGone
}

// forgetPeerChecks makes the next look at the peers test their locks.
func (e *endpoint) forgetPeerChecks() {
	if e.a.mpmc {
		e.peers = newRoleWatch(e.peers.role)
	} else {
		e.peer = newPeerWatch(e.peer.record)
	}
}

// noClaim ends a claim call that returns err without a claim: it leaves no
// announcement behind, so that a position another handle won is not taken
// for ours.
func (e *endpoint) noClaim(err error) error {
	e.intent.clear()
	return err
}

// hold makes count slots from position the outstanding slot or batch;
// returns the token of its guard.
func (e *endpoint) hold(kind uint64, position, count uint64) uint64 {
	serial := e.token&^pendingKinds + pendingKinds + 1
	e.token = serial | kind
	e.pendingPos, e.pendingCount = position, count
	return e.token
}

// pending is the kind of what is outstanding.
func (e *endpoint) pending() uint64 { return e.token & pendingKinds }

// unhold marks nothing outstanding: no guard matches the token any more.
func (e *endpoint) unhold() { e.token &^= pendingKinds }

// slices are count slots from position as two byte runs, for a batch guard
// of token: only in an SPSC ring of fixed-size messages, where nothing lies
// between payloads.
func (e *endpoint) slices(token, position uint64, count int) (first, second []byte, ok bool) {
	if e.a.mpmc || !e.a.fixed || e.token != token {
		return nil, nil, false
	}
	first, second = e.a.runs(position, uint64(count))
	return first, second, true
}

// batchPosition is the position of slot index of a batch of count slots from
// position; it panics, as slice indexing does, for an index out of range.
func batchPosition(position uint64, count, index int) uint64 {
	if index < 0 || index >= count {
		panic("shmlane: index outside the batch")
	}
	return position + uint64(index)
}

// The parts of waitable that do not depend on the role.

func (e *endpoint) lookAtPeersNow() {
	e.forgetPeerChecks()
	if e.a.mpmc {
		e.cleaner.lookNow()
	}
}

// watchSeesLeaving: the SPSC watch tests the lock afresh when the owner word
// changes, so a leaving peer is seen at once; the MPMC watch rate-limits.
func (e *endpoint) watchSeesLeaving() bool { return !e.a.mpmc }
func (e *endpoint) waitRing() *Ring        { return e.a.ring }
func (e *endpoint) waitSleeper() *sleeper  { return &e.sleeper }
