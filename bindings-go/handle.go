package shmlane

import (
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
	closed     bool
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

func attach(r *Ring, kind Kind) (attached, error) {
	g := &r.geo
	if g.Kind != kind {
		return attached{}, fmt.Errorf("%w: ring is %v, expected %v", ErrWrongKind, g.Kind, kind)
	}
	if g.TotalSize > uint64(len(r.data)) {
		return attached{}, corruptf("slots outside the mapping") // unreachable: validated at open
	}
	return attached{
		ring:       r,
		mpmc:       kind == MPMC,
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
	return unsafe.Slice((*byte)(unsafe.Add(a.slotPtr(position), a.bodyOffset+a.lenField)), n)
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

// distance is how far the position in stamp is from target, signed.
func distance(stamp, target uint64) int64 {
	return int64((stamp &^ stampSkip) - target)
}

func corruptStamp(position, stamp uint64) error {
	return corruptf("slot stamp %#x is more than a lap away from position %d", stamp, position)
}

// MaxAttempts is how many lost races (another handle moved the position
// first) an MPMC non-blocking call tolerates before it reports ErrFull or
// ErrEmpty: only a peer moving positions without publishing slots can cause it.
const MaxAttempts = 1 << 16

// What a handle has outstanding.
const (
	pendingNone uint8 = iota
	pendingSlot
	pendingBatch
)
