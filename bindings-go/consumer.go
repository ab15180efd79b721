package shmlane

// The reading end of a ring, of either kind: a Consumer is an endpoint
// (endpoint.go) plus how a consumer claims messages, reads and releases them,
// for SPSC (spsc.go) and MPMC (mpmc.go).

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
// previous one if it was not released. To hand messages to several
// goroutines, start a bridge (Chan, ChanCopy): it owns the consumer until its
// Wait returns. Call Close when done.
type Consumer struct {
	// Padding keeps the handle's hot words off the cache lines of whatever
	// the allocator put next to it (say, the peer handle of another thread).
	_ [128]byte
	endpoint
	head       uint64 // SPSC: local copy of our position, the next slot to read
	cachedTail uint64 // SPSC: last tail read from shared memory
	pendingLen uint64 // length of the borrowed single message
	// MPMC: claimed messages handed back unread, heldCount of them from
	// heldPos (one TryRecv could not fit in its buffer; those a channel
	// bridge read ahead and never delivered): the next reads return them.
	// The intent still covers them.
	heldPos   uint64
	heldCount uint64
	_         [128]byte
}

// JoinConsumer joins the ring as a consumer: the consumer of an SPSC ring (a
// previous consumer that died is taken over at the position it last released:
// a message it was reading is delivered again), or one of the consumers of an
// MPMC ring. Errors as JoinProducer.
func (r *Ring) JoinConsumer() (*Consumer, error) {
	c := &Consumer{}
	head, tail, err := c.join(r, consumerSide)
	if err != nil {
		return nil, err
	}
	c.head, c.cachedTail = head, tail
	return c, nil
}

// Close releases a borrowed message or batch, marks the participant record
// closed, releases its lock and wakes producers asleep on the ring. (MPMC
// messages held back by TryRecv or a bridge are released unread: lost with
// the consumer.)
func (c *Consumer) Close() error {
	if c.closed {
		return ErrClosed
	}
	c.releasePending()
	if c.heldCount > 0 {
		c.releaseNow(c.heldPos, c.heldCount)
		c.heldCount = 0
	}
	c.leave()
	return nil
}

// attempt is one non-blocking try to claim up to wanted messages: the first
// position and the count.
func (c *Consumer) attempt(wanted uint64) (uint64, uint64, error) {
	if c.a.mpmc {
		return c.claim(wanted)
	}
	if n := c.cachedTail - c.head; n >= wanted {
		return c.head, n, nil
	}
	n, err := c.spscAvailable()
	return c.head, n, err
}

// mayBeReady is a hint for the wait loop: whether a message may have come.
func (c *Consumer) mayBeReady() bool {
	if c.a.mpmc {
		return true
	}
	// A hint only: the attempt that follows loads tail with acquire.
	return atomic.LoadUint64(c.a.tailWord) != c.cachedTail
}

// releasePending releases the borrowed message or batch, if any: one store
// of head in an SPSC ring, a stamp per slot in an MPMC ring.
func (c *Consumer) releasePending() {
	if c.pending() == pendingNone {
		return
	}
	c.unhold()
	if c.pendingCount == 0 {
		return
	}
	if c.a.mpmc {
		c.releaseSlots(c.pendingPos, c.pendingCount)
	} else {
		c.releaseSPSC(c.pendingCount)
	}
}

// releaseSlot releases the borrowed single message (a ReadSlot's token
// matched: one slot is held): releasePending for one slot, written out.
func (c *Consumer) releaseSlot() {
	c.unhold()
	if c.a.mpmc {
		c.releaseSlots(c.pendingPos, 1)
		return
	}
	c.head++
	// Ordering: release, pairs with the acquire load of head in
	// Producer.refreshHead (Go) and Producer::refresh_head (Rust): our reads
	// of the slot happen before the producer reuses it.
	storeRelease64(c.a.headWord, c.head)
	c.waker.notify()
}

// keepPending gives the borrowed message back unread, for the next read to
// return: SPSC leaves head where it is; MPMC holds the claim, just before
// the rest of a held run, if any (the claim took it from the run's front).
func (c *Consumer) keepPending() {
	if c.a.mpmc {
		c.heldPos, c.heldCount = c.pendingPos, c.heldCount+1
	}
	c.unhold()
}

// releaseNow releases count claimed slots from position that were never
// borrowed (a message TryRecv kept, messages with impossible lengths), as a
// borrowed batch of them is released.
func (c *Consumer) releaseNow(position, count uint64) {
	c.hold(pendingBatch, position, count)
	c.releasePending()
}

// skipCorrupt releases messages whose length is out of bounds and reports it.
func (c *Consumer) skipCorrupt(position, count uint64) error {
	c.releaseNow(position, count)
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

func (s ReadSlot) held() bool {
	c := s.c
	return c != nil && c.token == s.token
}

// Bytes returns the message. Valid until Release (or the next read); nil for
// a slot no longer held.
func (s ReadSlot) Bytes() []byte {
	if !s.held() {
		return nil
	}
	return s.c.a.payloadFrom(s.c.pendingPayload, s.c.pendingLen)
}

// Len returns the message's length (0 for a slot no longer held).
func (s ReadSlot) Len() int { return len(s.Bytes()) }

// Release gives the slot back to the producers. A no-op on a slot no longer held.
func (s ReadSlot) Release() {
	// held, written out: through held, Release costs the inliner more than
	// its budget, and it is on the hot path.
	if c := s.c; c != nil && c.token == s.token {
		c.releaseSlot()
	}
}

// TryRead borrows the next message in place, without waiting; ok is false
// when no message is published. Errors: ErrDisconnected when the ring is
// drained and the producers have closed or died; ErrCorrupt when shared
// memory holds an impossible position or stamp, or a message length above the
// maximum (that message is skipped); ErrClosed. In an MPMC ring, a position
// whose producer died before committing it is skipped (counted in
// RingInfo.DroppedClaims) once it has kept the ring empty for a millisecond,
// or at once when every producer is gone: the messages after it are delivered
// before ErrDisconnected.
func (c *Consumer) TryRead() (msg ReadSlot, ok bool, err error) {
	if c.closed || c.a.mpmc || c.pending() != pendingNone {
		return c.tryReadOther()
	}
	// attempt(1) and slotAt written out, for the hot path: no call at all
	// while messages keep coming.
	if c.cachedTail == c.head {
		// Caught up: look at tail again here, as a consumer that keeps up
		// with its producer does for every message.
		// Ordering: acquire, pairs with the release store of tail in
		// Producer.publishSPSC and WriteSlot.Commit (Go) and
		// Producer::publish (Rust): the bytes of every slot before tail
		// are visible.
		tail := atomic.LoadUint64(c.a.tailWord)
		if tail-c.head-1 >= c.a.capacity {
			// None published (tail-head wrapped below 0), or more than the
			// capacity (corrupt): the slow path looks again and says which.
			if n, err := c.spscAvailable(); n == 0 {
				return ReadSlot{}, false, err
			}
		} else {
			c.cachedTail = tail
		}
	}
	position := c.head
	payload := c.a.payloadOffset(position)
	n, sound := c.a.lenFrom(payload)
	if !sound {
		return ReadSlot{}, false, c.skipCorrupt(position, 1)
	}
	token := c.hold(pendingSlot, position, 1)
	c.pendingLen, c.pendingPayload = n, payload
	return ReadSlot{c: c, token: token}, true, nil
}

// tryReadOther is TryRead on a closed handle, on one with a message or
// batch borrowed, and in an MPMC ring.
//
//go:noinline
func (c *Consumer) tryReadOther() (ReadSlot, bool, error) {
	if c.closed {
		return ReadSlot{}, false, ErrClosed
	}
	c.releasePending()
	if !c.a.mpmc {
		return c.TryRead()
	}
	position, count, err := c.claim(1)
	if count == 0 {
		return ReadSlot{}, false, err
	}
	return c.slotAt(position)
}

// Read borrows the next message in place, waiting as the consumer's
// WaitStrategy says until one comes; ok is false when ctx is done first (its
// deadline passed or it was cancelled: ctx.Err() says which). Errors as
// TryRead.
func (c *Consumer) Read(ctx context.Context) (msg ReadSlot, ok bool, err error) {
	if c.closed {
		return ReadSlot{}, false, ErrClosed
	}
	c.releasePending()
	position, count, err := blockOn(ctx, c, 1)
	if count == 0 {
		return ReadSlot{}, false, err
	}
	return c.slotAt(position)
}

// slotAt borrows the message claimed at position, if its length is sound.
func (c *Consumer) slotAt(position uint64) (ReadSlot, bool, error) {
	payload := c.a.payloadOffset(position)
	n, sound := c.a.lenFrom(payload)
	if !sound {
		return ReadSlot{}, false, c.skipCorrupt(position, 1)
	}
	token := c.hold(pendingSlot, position, 1)
	c.pendingLen, c.pendingPayload = n, payload
	return ReadSlot{c: c, token: token}, true, nil
}

// TryRecv copies the next message into buf and releases its slot, without
// waiting; returns its length, and ok false when no message is published.
// Errors: ErrBufferTooSmall when the message does not fit (it stays with this
// consumer: its next read returns it), otherwise as TryRead.
func (c *Consumer) TryRecv(buf []byte) (n int, ok bool, err error) {
	if c.closed || c.a.mpmc || c.pending() != pendingNone {
		return c.tryRecvOther(buf)
	}
	// TryRead, the copy and the release written out: no call on the hot
	// path but the store's (and memmove's, for messages of over 64 bytes).
	if c.cachedTail == c.head {
		// Ordering: acquire, as in TryRead: pairs with the release store of
		// tail in Producer.publishSPSC and WriteSlot.Commit (Go) and
		// Producer::publish (Rust).
		tail := atomic.LoadUint64(c.a.tailWord)
		if tail-c.head-1 >= c.a.capacity {
			// None published, or corrupt: as in TryRead.
			if n, err := c.spscAvailable(); n == 0 {
				return 0, false, err
			}
		} else {
			c.cachedTail = tail
		}
	}
	position := c.head
	length, sound := c.a.readLen(position)
	if !sound || length > uint64(len(buf)) {
		// TryRead reads the length again, and skips the message or keeps it.
		return c.tryRecvOther(buf)
	}
	copyMessage(buf, c.a.payload(position, length))
	c.head++
	// Ordering: release, as in releaseSPSC: pairs with the acquire load of
	// head in Producer.refreshHead (Go) and Producer::refresh_head (Rust).
	storeRelease64(c.a.headWord, c.head)
	c.waker.notify()
	return int(length), true, nil
}

// tryRecvOther is TryRecv in every case TryRead sends to tryReadOther, and
// for a message with an impossible length or too long for buf.
//
//go:noinline
func (c *Consumer) tryRecvOther(buf []byte) (int, bool, error) {
	msg, ok, err := c.TryRead()
	if !ok {
		return 0, false, err
	}
	return c.copyOut(msg, buf)
}

// Recv copies the next message into buf and releases its slot, waiting as
// Read does; returns its length, and ok false when ctx is done first. Errors
// as TryRecv.
func (c *Consumer) Recv(ctx context.Context, buf []byte) (n int, ok bool, err error) {
	msg, ok, err := c.Read(ctx)
	if !ok {
		return 0, false, err
	}
	return c.copyOut(msg, buf)
}

func (c *Consumer) copyOut(msg ReadSlot, buf []byte) (int, bool, error) {
	message := msg.Bytes()
	if len(message) > len(buf) {
		c.keepPending()
		return 0, false, fmt.Errorf("%w: next message is %d bytes but the buffer holds %d; the next read returns it",
			ErrBufferTooSmall, len(message), len(buf))
	}
	n := copy(buf, message)
	c.releaseSlot()
	return n, true, nil
}

// All returns an iterator over the messages of the ring, read in place as
// Read does, until ctx is done. Each slice is valid for one iteration only:
// its message is released when the loop body returns. An error is yielded
// with a nil slice and ends the iteration (ErrDisconnected once the
// producers are gone and the ring is drained, ...), except the ErrCorrupt of
// a message with an impossible length, which was skipped, after which it
// goes on; other corruption (impossible positions or stamps) persists and
// ends it. The iterator is for one loop: a second loop over it reads on
// from where the first stopped.
//
//	for msg, err := range consumer.All(ctx) {
//		if err != nil { ... ; break }
//		use(msg)
//	}
//	// ctx.Err() != nil: the context ended the iteration.
func (c *Consumer) All(ctx context.Context) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		for {
			msg, ok, err := c.Read(ctx)
			if err != nil {
				if !yield(nil, err) || !errors.Is(err, errSkipped) {
					return
				}
				continue
			}
			if !ok {
				return
			}
			more := yield(msg.Bytes(), nil)
			msg.Release()
			if !more {
				return
			}
		}
	}
}

// ReadFunc calls fn with each message of the ring, read in place as Read
// does, until ctx is done, fn returns an error, or a read fails. The slice is
// valid during the call only: its message is released when fn returns. It
// returns fn's error, the read's (ErrDisconnected once the producers are
// gone and the ring is drained; the ErrCorrupt of a message with an
// impossible length, which was skipped: call again to go on), or nil when
// ctx is done.
func (c *Consumer) ReadFunc(ctx context.Context, fn func(message []byte) error) error {
	for {
		msg, ok, err := c.Read(ctx)
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		err = fn(msg.Bytes())
		msg.Release()
		if err != nil {
			return err
		}
	}
}

// ReadBatch is up to n consecutive messages borrowed in place, released
// together. Its slices are valid only until Release, the consumer's next
// read, or Close.
type ReadBatch struct {
	c        *Consumer
	token    uint64
	position uint64
	count    int
}

// TryReadBatch borrows up to max published messages (max <= 0 gives an
// empty batch), without waiting; ok is false when not even one message is
// published. Errors as TryRead. A message with an impossible length ends an
// SPSC batch before it (the next call reports and skips it); an MPMC batch
// holding one is released and reported as ErrCorrupt.
func (c *Consumer) TryReadBatch(max int) (batch ReadBatch, ok bool, err error) {
	if c.closed {
		return ReadBatch{}, false, ErrClosed
	}
	c.releasePending()
	if max <= 0 {
		return c.batchAt(0, 0), true, nil
	}
	position, count, err := c.attempt(uint64(max))
	return c.batchOf(position, min(count, uint64(max)), err)
}

// ReadBatch borrows up to max messages, waiting as Read does for at least
// one; ok is false when ctx is done first. Errors as TryReadBatch.
func (c *Consumer) ReadBatch(ctx context.Context, max int) (batch ReadBatch, ok bool, err error) {
	if c.closed {
		return ReadBatch{}, false, ErrClosed
	}
	c.releasePending()
	if max <= 0 {
		return c.batchAt(0, 0), true, nil
	}
	position, count, err := blockOn(ctx, c, uint64(max))
	return c.batchOf(position, min(count, uint64(max)), err)
}

// batchOf is what a batch read call gives for count messages claimed from
// position, as the ring's kind treats messages with impossible lengths.
func (c *Consumer) batchOf(position, count uint64, err error) (ReadBatch, bool, error) {
	if count == 0 {
		return ReadBatch{}, false, err
	}
	if c.a.mpmc {
		batch, err := c.mpmcBatch(position, count)
		return batch, err == nil, err
	}
	batch, err := c.spscBatch(count)
	return batch, err == nil, err
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
	position := batchPosition(b.position, b.count, index)
	if b.c == nil || b.c.token != b.token {
		return nil
	}
	n, _ := b.c.a.readLen(position)
	return b.c.a.payload(position, min(n, b.c.a.maxPayload))
}

// Slices returns, in an SPSC ring of fixed-size messages, the batch's
// messages as two contiguous byte runs (see WriteBatch.Slices); ok is false
// for other rings.
func (b ReadBatch) Slices() (first, second []byte, ok bool) {
	if b.c == nil {
		return nil, nil, false
	}
	return b.c.slices(b.token, b.position, b.count)
}

// Release releases every message of the batch (one store in an SPSC ring).
func (b ReadBatch) Release() {
	if b.c != nil && b.c.token == b.token {
		b.c.releasePending()
	}
}
