package shmlane

// The writing end of a ring, of either kind: a Producer is an endpoint
// (endpoint.go) plus how a producer claims slots and publishes them, for SPSC
// (spsc.go) and MPMC (mpmc.go).

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
// participant record closed, so consumers see ErrDisconnected once drained.
type Producer struct {
	// Padding keeps the handle's hot words off the cache lines of whatever
	// the allocator put next to it (say, the peer handle of another thread).
	_ [128]byte
	endpoint
	tail       uint64 // SPSC: local copy of our position, the next slot to write
	cachedHead uint64 // SPSC: last head read from shared memory
	_          [128]byte
}

// JoinProducer joins the ring as a producer: the producer of an SPSC ring (a
// previous producer that died is taken over: this one continues at the
// position the dead one last published), or one of the producers of an MPMC
// ring. Errors: ErrRoleTaken while another SPSC producer lives,
// ErrTooManyParticipants when every MPMC record is held, ErrCorrupt, ErrClosed.
func (r *Ring) JoinProducer() (*Producer, error) {
	p := &Producer{}
	head, tail, err := p.join(r, producerSide)
	if err != nil {
		return nil, err
	}
	p.cachedHead, p.tail = head, tail
	return p, nil
}

// Close abandons an outstanding reservation, marks the participant record
// closed, releases its lock and wakes consumers asleep on the ring.
func (p *Producer) Close() error {
	if p.closed {
		return ErrClosed
	}
	p.abandon()
	p.leave()
	return nil
}

// attempt is one non-blocking try to claim up to wanted slots: the first
// position and the count.
func (p *Producer) attempt(wanted uint64) (uint64, uint64, error) {
	if p.a.mpmc {
		return p.claim(wanted)
	}
	if free := p.a.capacity - (p.tail - p.cachedHead); free >= wanted {
		return p.tail, free, nil
	}
	free, err := p.spscFree()
	return p.tail, free, err
}

// mayBeReady is a hint for the wait loop: whether a slot may have come free.
func (p *Producer) mayBeReady() bool {
	if p.a.mpmc {
		return true
	}
	// A hint only: the attempt that follows loads head with acquire.
	return atomic.LoadUint64(p.a.headWord) != p.cachedHead
}

// publish publishes the first n of the count slots from position; an MPMC
// ring gets the rest marked to be skipped (other producers may hold the
// positions after them), an SPSC ring gets them back unpublished.
func (p *Producer) publish(position, count, n uint64) {
	p.unhold()
	if !p.a.mpmc {
		if n > 0 {
			p.publishSPSC(n)
		}
		return
	}
	for i := uint64(0); i < count; i++ {
		p.publishMPMC(position+i, i >= n)
	}
	if count > 0 {
		// Sleeping consumers wake to read the messages, or to skip the
		// slots given up and reach those after them.
		p.waker.notify()
	}
}

// abandon gives up the outstanding reservation, publishing nothing.
func (p *Producer) abandon() {
	if p.pending() != pendingNone {
		p.publish(p.pendingPos, p.pendingCount, 0)
	}
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

func (s WriteSlot) held() bool {
	p := s.p
	return p != nil && p.token == s.token
}

// Bytes returns the slot's payload, MaxPayload bytes, to write the message
// into. Valid until Commit or Abort; nil for a slot no longer held.
func (s WriteSlot) Bytes() []byte {
	if !s.held() {
		return nil
	}
	return s.p.a.payloadFrom(s.p.pendingPayload, s.p.a.maxPayload)
}

// Commit publishes the first n bytes of the slot as one message. ErrStaleSlot
// if the slot is no longer held; ErrMessageTooLarge (or ErrWrongMessageSize in
// a fixed-size ring) if n does not suit the ring, in which case the slot is
// abandoned as by Abort.
func (s WriteSlot) Commit(n int) error {
	if !s.held() {
		return ErrStaleSlot
	}
	p := s.p
	if !p.a.lenOK(n) {
		p.abandon()
		return p.a.checkLen(n)
	}
	position := p.pendingPos
	p.a.setLenFrom(p.pendingPayload, n)
	// As publish(position, 1, 1), and publishSPSC(1) written out: no call on
	// the hot path but the store's.
	p.unhold()
	if p.a.mpmc {
		p.publishMPMC(position, false)
		p.waker.notify()
		return nil
	}
	p.tail++
	// Ordering: release, pairs with the acquire load of tail in
	// Consumer.TryRead and Consumer.refreshTail (Go) and
	// Consumer::refresh_tail (Rust): the slot bytes written before are
	// visible to the consumer that sees the new tail.
	storeRelease64(p.a.tailWord, p.tail)
	p.waker.notify()
	return nil
}

// Abort gives the slot up uncommitted: consumers never see it (in an MPMC
// ring it travels marked to be skipped). A no-op on a slot no longer held.
func (s WriteSlot) Abort() {
	if s.held() {
		s.p.abandon()
	}
}

// TryReserve reserves the next slot for writing in place, without waiting;
// ok is false when no slot is free. Errors: ErrDisconnected when the ring is
// full and the consumers have closed or died; ErrCorrupt when shared memory
// holds an impossible position or stamp; ErrClosed. In an MPMC ring, a slot
// whose consumer died holding its message is released (the message counted
// lost in RingInfo.LostMessages) once it has kept the ring full for a
// millisecond.
func (p *Producer) TryReserve() (slot WriteSlot, ok bool, err error) {
	if p.closed || p.a.mpmc || p.pending() != pendingNone || p.tail-p.cachedHead == p.a.capacity {
		return p.tryReserveOther()
	}
	// attempt(1) written out, for the hot path: no call while slots are
	// known free.
	return p.slotAt(p.tail), true, nil
}

// tryReserveOther is TryReserve on a closed handle, on one with a slot or
// batch reserved, on a ring full as far as we knew, and in an MPMC ring.
//
//go:noinline
func (p *Producer) tryReserveOther() (WriteSlot, bool, error) {
	if p.closed {
		return WriteSlot{}, false, ErrClosed
	}
	p.abandon()
	if p.a.mpmc {
		position, count, err := p.claim(1)
		if count == 0 {
			return WriteSlot{}, false, err
		}
		return p.slotAt(position), true, nil
	}
	if p.tail-p.cachedHead == p.a.capacity {
		if free, err := p.spscFree(); free == 0 {
			return WriteSlot{}, false, err
		}
	}
	return p.slotAt(p.tail), true, nil
}

// Reserve reserves the next slot, waiting as the producer's WaitStrategy says
// until one is free; ok is false when ctx is done first (its deadline passed
// or it was cancelled: ctx.Err() says which). Errors as TryReserve.
func (p *Producer) Reserve(ctx context.Context) (slot WriteSlot, ok bool, err error) {
	if p.closed {
		return WriteSlot{}, false, ErrClosed
	}
	p.abandon()
	position, count, err := blockOn(ctx, p, 1)
	if count == 0 {
		return WriteSlot{}, false, err
	}
	return p.slotAt(position), true, nil
}

// slotAt makes the slot claimed at position the outstanding one.
func (p *Producer) slotAt(position uint64) WriteSlot {
	p.pendingPayload = p.a.payloadOffset(position)
	return WriteSlot{p: p, token: p.hold(pendingSlot, position, 1)}
}

// TrySend copies message into the next slot and publishes it, without
// waiting; ok is false when no slot is free. Errors: ErrMessageTooLarge (or
// ErrWrongMessageSize in a fixed-size ring) when message does not suit the
// ring, otherwise as TryReserve.
func (p *Producer) TrySend(message []byte) (ok bool, err error) {
	n := len(message)
	if !p.a.lenOK(n) {
		return false, p.a.checkLen(n)
	}
	if p.closed || p.a.mpmc || p.pending() != pendingNone || p.tail-p.cachedHead == p.a.capacity {
		return p.trySendOther(message)
	}
	// TryReserve, the copy and Commit written out: no call on the hot path
	// but the store's (and memmove's, for messages of over 64 bytes).
	position := p.tail
	p.a.setLen(position, n)
	copyMessage(p.a.payload(position, uint64(n)), message)
	p.tail++
	// Ordering: release, as in WriteSlot.Commit: pairs with the acquire
	// load of tail in Consumer.TryRead and Consumer.refreshTail (Go) and
	// Consumer::refresh_tail (Rust).
	storeRelease64(p.a.tailWord, p.tail)
	p.waker.notify()
	return true, nil
}

// trySendOther is TrySend (of a message of a sound length) in every case
// TryReserve sends to tryReserveOther.
//
//go:noinline
func (p *Producer) trySendOther(message []byte) (bool, error) {
	slot, ok, err := p.tryReserveOther()
	if !ok {
		return false, err
	}
	copy(slot.Bytes(), message)
	err = slot.Commit(len(message)) // nil: the length was checked
	return err == nil, err
}

// Send copies message into the next slot and publishes it, waiting for a free
// slot as Reserve does; ok is false when ctx is done first. Errors as TrySend.
func (p *Producer) Send(ctx context.Context, message []byte) (ok bool, err error) {
	if err := p.a.checkLen(len(message)); err != nil {
		return false, err
	}
	slot, ok, err := p.Reserve(ctx)
	if !ok {
		return false, err
	}
	copy(slot.Bytes(), message)
	err = slot.Commit(len(message)) // nil: the length was checked
	return err == nil, err
}

// SendFrom sends each message received from in, as Send does, until in is
// closed or ctx is done (nil), or a send fails (its error). While the ring
// is full it waits, taking nothing more from in: in's senders block once its
// buffer is full, which is the backpressure. A message is copied into the
// ring before the next is taken, so its slice may be reused once the next
// receive from in happened. unsent is the message taken from in and not
// sent, because ctx ended while the ring was full or because of err (say
// ErrMessageTooLarge); nil if there is none.
func (p *Producer) SendFrom(ctx context.Context, in <-chan []byte) (unsent []byte, err error) {
	done := ctx.Done()
	for {
		var message []byte
		select {
		case m, open := <-in:
			if !open {
				return nil, nil
			}
			message = m
		case <-done:
			return nil, nil
		}
		if sent, err := p.Send(ctx, message); !sent {
			return message, err
		}
	}
}

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
// free; max <= 0 gives an empty batch), without waiting; ok is false when
// not even one slot is free. Every slot's length is 0 until set. Errors as
// TryReserve.
func (p *Producer) TryReserveBatch(max int) (batch WriteBatch, ok bool, err error) {
	if p.closed {
		return WriteBatch{}, false, ErrClosed
	}
	p.abandon()
	if max <= 0 {
		return p.batchAt(0, 0), true, nil
	}
	position, count, err := p.attempt(uint64(max))
	return p.batchOf(position, min(count, uint64(max)), err)
}

// ReserveBatch reserves up to max consecutive slots, waiting as Reserve does
// until at least one is free; ok is false when ctx is done first. Errors as
// TryReserve.
func (p *Producer) ReserveBatch(ctx context.Context, max int) (batch WriteBatch, ok bool, err error) {
	if p.closed {
		return WriteBatch{}, false, ErrClosed
	}
	p.abandon()
	if max <= 0 {
		return p.batchAt(0, 0), true, nil
	}
	position, count, err := blockOn(ctx, p, uint64(max))
	return p.batchOf(position, min(count, uint64(max)), err)
}

// batchOf is what a batch reserve call gives for count slots claimed from
// position.
func (p *Producer) batchOf(position, count uint64, err error) (WriteBatch, bool, error) {
	if count == 0 {
		return WriteBatch{}, false, err
	}
	return p.batchAt(position, count), true, nil
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

func (b WriteBatch) held() bool { return b.p != nil && b.p.token == b.token }

// Slot returns the payload bytes of slot index (MaxPayload of them); nil for
// a batch no longer held. It panics if index is out of range, as slice
// indexing does.
func (b WriteBatch) Slot(index int) []byte {
	position := batchPosition(b.position, b.count, index)
	if !b.held() {
		return nil
	}
	return b.p.a.payload(position, b.p.a.maxPayload)
}

// SetLen sets the length of the message in slot index. ErrMessageTooLarge, or
// ErrWrongMessageSize in a fixed-size ring (whose lengths need no setting).
func (b WriteBatch) SetLen(index int, n int) error {
	position := batchPosition(b.position, b.count, index)
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
	if b.p == nil {
		return nil, nil, false
	}
	return b.p.slices(b.token, b.position, b.count)
}

// Commit publishes every slot of the batch (one store in an SPSC ring).
func (b WriteBatch) Commit() error { return b.CommitFirst(b.count) }

// CommitFirst publishes the first n slots (at most the batch's length); the
// rest are given back unpublished (SPSC) or handed on marked to be skipped (MPMC).
func (b WriteBatch) CommitFirst(n int) error {
	if !b.held() {
		return ErrStaleSlot
	}
	b.p.publish(b.position, uint64(b.count), uint64(max(0, min(n, b.count))))
	return nil
}

// Abort gives every slot of the batch up uncommitted.
func (b WriteBatch) Abort() {
	if b.held() {
		b.p.abandon()
	}
}
