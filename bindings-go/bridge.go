package shmlane

// The channel bridge: a goroutine that reads a Consumer's messages in place
// and hands them to other goroutines over a channel; each message is released
// on its own, in any order, from any goroutine.
//
// Two halves share the consumer handle and never touch the same field
// outside the bridge's mutex:
//   - the reading half (the bridge goroutine) claims messages: the SPSC read
//     cursor and cached tail, the MPMC claim with its intent, cleaner and
//     held run, the sleeper and the peer watches;
//   - the releasing half (Release, under mu) gives slots back: the SPSC head
//     and the waker. An MPMC claim may release a slot to be skipped through
//     the waker too, so the reading half makes its MPMC claims under mu.
//
// A window of entries, indexed by the bridge's own sequence number of each
// message, says which are still held. SPSC: head advances over the contiguous
// prefix of released messages (docs/layout.md#spsc), so no slot is reused
// while its message is held. MPMC: each slot is released through its stamp
// as soon as its message is; but a handle announces a new claim only once it
// released all it held (docs/layout.md#mpmc-crash-recovery, "Announcing"), so
// the bridge claims its next run of messages when the previous run is all
// released.

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"unsafe"
)

// The states of a window entry besides "held": the sequence number of its
// message plus one.
const (
	entryReleased uint64 = 0              // released, the release prefix not yet past it
	entryFree     uint64 = math.MaxUint64 // no message (never one, or the prefix passed it)
)

type bridgeEntry struct {
	state atomic.Uint64
	// Written by the reading half before state says held; read by the
	// releasing half after it loaded that state.
	position uint64
	length   uint64 // the reading half's own
}

// Bridge hands a Consumer's messages to other goroutines over the channel C,
// zero-copy: each BorrowedMessage points into the ring's mapping until it is
// released. Made by Consumer.Chan.
//
// The consumer belongs to the bridge from Chan until Wait returns: do not
// call its methods (Close included) in between.
type Bridge struct {
	// C delivers the messages in ring order, and is closed when the bridge
	// ends (its context done, the producers gone and the ring drained, or a
	// failure: see Err). It is unbuffered: a message received is delivered;
	// those read ahead and not delivered when the bridge ends are not lost
	// (see Consumer.Chan).
	C <-chan BorrowedMessage

	c      *Consumer
	out    chan BorrowedMessage
	reader bridgeReader
	depth  uint64
	window []bridgeEntry
	mask   uint64
	base   uint64 // SPSC: the position of sequence number 0 (head at the start)

	// The reading half's own.
	claimed   uint64 // sequence numbers given to window entries
	delivered uint64 // sequence numbers sent on C
	// MPMC: claimed messages from unsentPos, after those of the window, kept
	// back unread (one of them has an impossible length).
	unsentPos, unsentCount uint64
	endErr                 error // ends the bridge once the window's messages are delivered

	prefix    atomic.Uint64 // sequence number of the first message not released; mu
	roomFreed chan struct{} // a poke from the releasing half: prefix moved

	mu         sync.Mutex
	ended      bool   // mu: the reading half is done
	end        uint64 // mu: delivered when it ended
	err        error  // mu
	done       chan struct{}
	doneClosed bool // mu
}

// BorrowedMessage is a message of a Bridge, borrowed in place. It is a small
// value; passing it on allocates nothing. Release it exactly once, from any
// goroutine, when done with its bytes.
type BorrowedMessage struct {
	b    *Bridge
	data *byte
	n    int
	seq  uint64
}

// Chan starts a bridge that reads the consumer's messages in place, up to
// depth of them at once (depth is bounded to 1 .. Capacity), and sends them
// on its channel C, waiting for messages as Read does with the consumer's
// WaitStrategy. A message borrowed from the consumer before (ReadSlot) is
// released first.
//
// Release each message when done with it, in any order, from any goroutine;
// the bridge holds at most depth unreleased messages, and then waits for a
// release. In an SPSC ring the ring's release position (head) advances over
// the contiguous run of released messages from the oldest: a held message
// keeps its slot and every later slot from reuse, and producers can fill the
// ring up to it. In an MPMC ring each slot is released as its message is;
// the bridge claims up to depth messages at once and its next claim only
// when all of those are released (a consumer announces one claim at a time,
// for crash recovery), so a message held long stalls the bridge, not the
// producers, until they come round to its slot.
//
// The bridge ends when ctx is done (Err is then nil), when the producers are
// gone and the ring drained (ErrDisconnected), or on a failure (ErrCorrupt,
// ErrClosed): it closes C. Messages received from C stay valid until
// released; messages read ahead and not delivered stay in the ring (SPSC) or
// with the consumer (MPMC): its next reads return them. A message with an
// impossible length ends the bridge with ErrCorrupt before it is delivered;
// the consumer's next read reports and skips it. Wait returns once C is
// closed and every message received from it released; the consumer is then
// the caller's again.
func (c *Consumer) Chan(ctx context.Context, depth int) *Bridge {
	out := make(chan BorrowedMessage)
	b := &Bridge{C: out, c: c, out: out, roomFreed: make(chan struct{}, 1), done: make(chan struct{})}
	if c.closed {
		b.finish(ErrClosed)
		return b
	}
	c.releasePending()
	b.depth = uint64(min(max(depth, 1), c.Capacity()))
	size := uint64(1)
	for size < b.depth {
		size <<= 1
	}
	b.window = make([]bridgeEntry, size)
	for i := range b.window {
		b.window[i].state.Store(entryFree)
	}
	b.mask = size - 1
	b.base = c.head
	b.reader.b = b
	go b.run(ctx)
	return b
}

// Err returns what ended the bridge, once C is closed: nil if its context
// did, ErrDisconnected, ErrCorrupt, ErrClosed. Nil while it runs.
func (b *Bridge) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// Wait waits until C is closed and every message received from it released,
// then returns Err. The consumer may be used again (or closed) after Wait.
func (b *Bridge) Wait() error {
	<-b.done
	return b.Err()
}

// Bytes returns the message, in place in the ring's mapping; nil once the
// message is released. A slice taken before the release still points at the
// slot, which may hold another message by then: that use is not caught.
func (m BorrowedMessage) Bytes() []byte {
	if !m.held() {
		return nil
	}
	return unsafe.Slice(m.data, m.n)
}

// Len returns the message's length (0 once released).
func (m BorrowedMessage) Len() int { return len(m.Bytes()) }

// Release gives the message back: its slot is reused once every message
// before it (SPSC) or it alone (MPMC) is released. A no-op on a released
// message.
func (m BorrowedMessage) Release() {
	if m.b != nil {
		m.b.release(m.seq)
	}
}

// held is the generation check: whether the message's entry still holds it.
func (m BorrowedMessage) held() bool {
	b := m.b
	return b != nil && b.window[m.seq&b.mask].state.Load() == m.seq+1
}

func (b *Bridge) run(ctx context.Context) {
	b.finish(b.pump(ctx))
}

// pump is the reading half: it delivers what it claimed, then claims more as
// the window has room, until ctx is done (nil) or a failure.
func (b *Bridge) pump(ctx context.Context) error {
	done := ctx.Done()
	for {
		for b.delivered < b.claimed {
			select {
			case b.out <- b.message(b.delivered):
				b.delivered++
			case <-done:
				return nil
			}
		}
		if b.endErr != nil {
			return b.endErr
		}
		room := b.room()
		if room == 0 {
			select {
			case <-b.roomFreed:
				continue
			case <-done:
				return nil
			}
		}
		position, count, err := blockOn(ctx, &b.reader, room)
		if count == 0 {
			return err // nil: ctx is done
		}
		b.take(position, min(count, room))
	}
}

// room is how many more messages the reading half may claim now.
func (b *Bridge) room() uint64 {
	// Ordering: pairs with the store of prefix in Bridge.release: the
	// entries before prefix are free, and the releasing half is done with
	// their fields before the reading half writes them again.
	inWindow := b.claimed - b.prefix.Load()
	if b.c.a.mpmc && inWindow > 0 {
		return 0 // one claim at a time: the previous run is not all released
	}
	return b.depth - inWindow
}

// take puts count claimed messages from position into the window, up to one
// with an impossible length: that one ends the bridge (SPSC: it is left in
// the ring; MPMC: it and the rest are kept back, claimed).
func (b *Bridge) take(position, count uint64) {
	a := &b.c.a
	for i := uint64(0); i < count; i++ {
		n, ok := a.readLen(position + i)
		if !ok {
			b.endErr = fmt.Errorf("%w: message at position %d claims a length above the maximum of %d; the bridge ends before it",
				ErrCorrupt, position+i, a.maxPayload)
			if a.mpmc {
				b.unsentPos, b.unsentCount = position+i, count-i
			}
			return
		}
		e := &b.window[b.claimed&b.mask]
		e.position, e.length = position+i, n
		// Ordering: pairs with the load of state in Bridge.release, which
		// reads position after it: the entry's fields are visible there.
		e.state.Store(b.claimed + 1)
		b.claimed++
	}
}

// message is the message of sequence number seq, in the window.
func (b *Bridge) message(seq uint64) BorrowedMessage {
	e := &b.window[seq&b.mask]
	return BorrowedMessage{b: b, data: b.c.a.payloadStart(e.position), n: int(e.length), seq: seq}
}

// finish ends the reading half with err: it leaves the messages it claimed
// and did not deliver with the consumer (MPMC; in SPSC they are still in the
// ring, past the head the releases will reach) and closes C.
func (b *Bridge) finish(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.c
	if unsent := b.claimed - b.delivered; c.a.mpmc && unsent+b.unsentCount > 0 {
		// Contiguous: the window's undelivered messages are the end of the
		// last claim, then those kept back, then the rest of a held run it
		// was taken from.
		start := b.unsentPos
		if unsent > 0 {
			start = b.window[b.delivered&b.mask].position
		}
		c.heldPos, c.heldCount = start, unsent+b.unsentCount+c.heldCount
	}
	b.ended, b.end, b.err = true, b.delivered, err
	close(b.out)
	b.closeDoneIfIdle()
}

// release releases the message of sequence number seq, if still held.
func (b *Bridge) release(seq uint64) {
	e := &b.window[seq&b.mask]
	b.mu.Lock()
	defer b.mu.Unlock()
	if e.state.Load() != seq+1 {
		return
	}
	c := b.c
	if c.a.mpmc {
		c.releaseSlots(e.position, 1)
	}
	e.state.Store(entryReleased)
	prefix := b.prefix.Load()
	first := prefix
	// In bounds: at most depth <= len(window) entries are past prefix.
	for b.window[prefix&b.mask].state.Load() == entryReleased {
		b.window[prefix&b.mask].state.Store(entryFree)
		prefix++
	}
	if prefix == first {
		return
	}
	// Ordering: pairs with the load of prefix in Bridge.room: the entries
	// passed are free for the reading half.
	b.prefix.Store(prefix)
	if !c.a.mpmc {
		c.releaseSPSC(prefix - first)
	}
	select {
	case b.roomFreed <- struct{}{}:
	default: // a poke is pending already
	}
	b.closeDoneIfIdle()
}

// closeDoneIfIdle ends Wait once the reading half is done and every
// delivered message released. Under mu.
func (b *Bridge) closeDoneIfIdle() {
	if b.ended && !b.doneClosed && b.prefix.Load() == b.end {
		b.doneClosed = true
		close(b.done)
	}
}

// bridgeReader is the reading half as the wait loop sees it (waitable).
type bridgeReader struct{ b *Bridge }

// attempt claims up to wanted more messages without waiting.
func (r bridgeReader) attempt(wanted uint64) (uint64, uint64, error) {
	b := r.b
	c := b.c
	if c.a.mpmc {
		b.mu.Lock()
		defer b.mu.Unlock()
		return c.claim(wanted)
	}
	next := b.base + b.claimed
	if n := c.cachedTail - next; n > 0 {
		return next, n, nil
	}
	n, err := b.refreshTail(next)
	if err != nil || n > 0 {
		return next, n, err
	}
	if c.peersGone() {
		// Drain what the producer published before it left.
		if n, err = b.refreshTail(next); err != nil || n > 0 {
			return next, n, err
		}
		return next, 0, ErrDisconnected
	}
	return next, 0, nil
}

// refreshTail re-reads the producer's position; returns the count published
// from next (the window bounds how many of them are taken: they never reach
// a slot still held).
func (b *Bridge) refreshTail(next uint64) (uint64, error) {
	c := b.c
	// Ordering: acquire, pairs with the release store of tail in
	// Producer.publishSPSC (Go) and Producer::publish (Rust), as in
	// Consumer.refreshTail.
	tail := atomic.LoadUint64(c.a.tailWord)
	available := tail - next
	if available > c.a.capacity {
		return 0, corruptPositions(next, tail, c.a.capacity)
	}
	c.cachedTail = tail
	return available, nil
}

func (r bridgeReader) mayBeReady() bool {
	c := r.b.c
	if c.a.mpmc {
		return true
	}
	// A hint only: the attempt that follows loads tail with acquire.
	return atomic.LoadUint64(c.a.tailWord) != c.cachedTail
}

func (r bridgeReader) lookAtPeersNow()        { r.b.c.lookAtPeersNow() }
func (r bridgeReader) watchSeesLeaving() bool { return r.b.c.watchSeesLeaving() }
func (r bridgeReader) waitRing() *Ring        { return r.b.c.waitRing() }
func (r bridgeReader) waitSleeper() *sleeper  { return r.b.c.waitSleeper() }

// CopyBridge hands copies of a Consumer's messages to other goroutines over
// the channel C: owned slices, from a pool of buffers that Recycle refills.
// Made by Consumer.ChanCopy.
//
// The consumer belongs to the bridge from ChanCopy until Wait returns: do
// not call its methods (Close included) in between.
type CopyBridge struct {
	// C delivers copies of the messages in ring order, and is closed when
	// the bridge ends (see Err). It is unbuffered: each message is released
	// from the ring once its copy is received, so none is lost when the
	// bridge ends.
	C <-chan []byte

	c    *Consumer
	out  chan []byte
	pool chan []byte // buffers given back by Recycle

	mu   sync.Mutex
	err  error // mu
	done chan struct{}
}

// ChanCopy starts a bridge that reads the consumer's messages, copies each
// into a buffer of its pool (a new one when the pool is empty) and sends the
// copy on its channel C, waiting for messages as Read does with the
// consumer's WaitStrategy. The pool keeps up to pool buffers (at least 1)
// given back with Recycle; recycling every slice keeps allocations at zero.
// A message borrowed from the consumer before (ReadSlot) is released first.
//
// The bridge ends as Consumer.Chan's does: when ctx is done (Err is then
// nil), when the producers are gone and the ring drained (ErrDisconnected),
// or on a failure (ErrCorrupt, ErrClosed); it closes C. A message read and
// not yet received when ctx ends stays with the consumer: its next read
// returns it.
func (c *Consumer) ChanCopy(ctx context.Context, pool int) *CopyBridge {
	out := make(chan []byte)
	b := &CopyBridge{C: out, c: c, out: out, pool: make(chan []byte, max(pool, 1)), done: make(chan struct{})}
	if c.closed {
		b.finish(ErrClosed)
		return b
	}
	c.releasePending()
	go func() { b.finish(b.pump(ctx)) }()
	return b
}

// Recycle gives a slice received from C back to the pool, for a later
// message; the caller must not use it afterwards. Safe from any goroutine;
// a slice the pool has no room for is left to the garbage collector.
func (b *CopyBridge) Recycle(message []byte) {
	select {
	case b.pool <- message[:0]:
	default:
	}
}

// Err returns what ended the bridge, once C is closed: nil if its context
// did, ErrDisconnected, ErrCorrupt, ErrClosed. Nil while it runs.
func (b *CopyBridge) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// Wait waits until the bridge has ended and C is closed, then returns Err.
// The consumer may be used again (or closed) after Wait.
func (b *CopyBridge) Wait() error {
	<-b.done
	return b.Err()
}

// pump reads, copies and sends until ctx is done (nil) or a read fails.
func (b *CopyBridge) pump(ctx context.Context) error {
	c := b.c
	done := ctx.Done()
	for {
		msg, ok, err := c.Read(ctx)
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		copied := append(b.buffer(), msg.Bytes()...)
		select {
		case b.out <- copied:
			msg.Release()
		case <-done:
			c.keepPending()
			b.Recycle(copied)
			return nil
		}
	}
}

// buffer is an empty buffer from the pool, or a new one.
func (b *CopyBridge) buffer() []byte {
	select {
	case buffer := <-b.pool:
		return buffer
	default:
		return make([]byte, 0, b.c.MaxPayload())
	}
}

func (b *CopyBridge) finish(err error) {
	b.mu.Lock()
	b.err = err
	b.mu.Unlock()
	close(b.out)
	close(b.done)
}
