package shmlane

// Layout 2 of a ring file: the Go description of docs/layout.md.
//
// Every number here is the one in docs/layout.md; layout_test.go checks them
// against docs/layout-golden.tsv, the table the Rust crate's numbers are
// exported to. The file is little-endian; this package builds only on
// little-endian 64-bit Linux targets (see the build constraints of sys_linux.go).

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
)

// Header constants.
const (
	// Magic is the bytes "SHMLANE\0" read as a little-endian uint64.
	Magic uint64 = 0x00454E414C4D4853
	// VersionMajor is the layout's major version: readers refuse any other.
	VersionMajor uint16 = 2
	// VersionMinor is the layout's minor version: readers accept any minor of their major.
	VersionMinor uint16 = 2
	// ReadyValue is the ready word once the creator has written the header ("REDY").
	ReadyValue uint32 = 0x59444552
	// LineSize is the width of every line holding an independently written group of atomics.
	LineSize = 128
	// HeaderSize is the size of the header at the start of the file.
	HeaderSize = 256
	// HashedHeaderBytes is the number of header bytes the layout hash covers.
	HashedHeaderBytes = 112
)

// File map offsets.
const (
	producerLineOffset    = HeaderSize                      // 256
	consumerLineOffset    = producerLineOffset + LineSize   // 384
	waitLinesOffset       = consumerLineOffset + LineSize   // 512
	membershipLineOffset  = waitLinesOffset + 2*LineSize    // 768
	participantsOffset    = membershipLineOffset + LineSize // 896
	participantRecordSize = LineSize                        // 128

	tailOffset          = producerLineOffset
	gateOffset          = producerLineOffset + 8 // broadcast only
	headOffset          = consumerLineOffset
	dataWaitLineOffset  = waitLinesOffset
	spaceWaitLineOffset = waitLinesOffset + LineSize
	producerJoinsOffset = membershipLineOffset
	consumerJoinsOffset = membershipLineOffset + 8
	// MPMC crash recovery's counters (recovery.go): claims of dead producers
	// turned into skipped slots, and messages released unread for dead consumers.
	droppedClaimsOffset = membershipLineOffset + 16
	lostMessagesOffset  = membershipLineOffset + 24
)

// Header field offsets.
const (
	hdrMagic                 = 0
	hdrVersionMajor          = 8
	hdrVersionMinor          = 10
	hdrKind                  = 12
	hdrLineSize              = 16
	hdrSlotHeaderSize        = 20
	hdrCapacity              = 24
	hdrSlotSize              = 32
	hdrMaxPayload            = 40
	hdrProducerLineOffset    = 48
	hdrConsumerLineOffset    = 56
	hdrWaitLinesOffset       = 64
	hdrParticipantsOffset    = 72
	hdrParticipantCount      = 80
	hdrParticipantRecordSize = 84
	hdrSlotsOffset           = 88
	hdrTotalSize             = 96
	hdrFlags                 = 104
	hdrReserved0             = 108
	hdrLayoutHash            = 112
	hdrCreatorPid            = 120
	hdrReserved1             = 124
	hdrReady                 = 128
	hdrReserved2             = 132
	hdrCreationTimeNs        = 136
	hdrReserved3             = 144
)

// Wait line field offsets, relative to the line.
const (
	waitFutex    = 0
	waitWaiters  = 4
	waitSleeps   = 8
	waitWakes    = 16
	waitSleepers = 24
	waitEpoch    = 32
)

// Participant record field offsets, relative to the record.
const (
	recOwner = 0
	recPid   = 8
	// recSubscription: a broadcast subscriber's policy (tethered or untethered).
	recSubscription = 12
	recJoinedNs     = 16
	recCursor       = 24
	recMessages     = 32
	recBytes        = 40
	recLost         = 48 // untethered broadcast subscribers: messages lost, in all
	recWakeAck      = 56
	recWaitState    = 64
	// recClaimStart and recClaimEnd: the range of positions an MPMC owner is
	// claiming or holds, claim_start .. claim_end (recovery.go).
	recClaimStart = 72
	recClaimEnd   = 80

	subscriptionTethered   = 1
	subscriptionUntethered = 2

	waitStateRegistered uint64 = 1
	waitStateWaiting    uint64 = 2
)

// Slot layout.
const (
	spscSlotHeaderSize = 8  // len u32, flags u32
	mpmcSlotHeaderSize = 16 // stamp u64, len u32, flags u32
	slotLenFieldSize   = 8  // the len and flags words, left out with FlagFixedSize
	stampSkip          = uint64(1) << 63
	stampWriting       = uint64(1) << 63 // broadcast: the producer is writing the slot
)

// Limits and flags.
const (
	// FlagFixedSize marks a ring whose messages are all exactly max_payload bytes.
	FlagFixedSize uint32 = 1
	// flagOverwrite (layout 2.2, broadcast only): the producer overwrites the
	// oldest message and never waits; no tethered subscriber may join.
	flagOverwrite uint32 = 2
	knownFlags           = FlagFixedSize | flagOverwrite

	MinCapacity     uint64 = 2
	MaxCapacity     uint64 = 1 << 32
	MinMaxPayload   uint64 = 8
	MaxSlotSize     uint64 = 1 << 31
	MaxTotalSize    uint64 = 1 << 40
	MaxParticipants uint32 = 1024
)

// Owner word encoding of a participant record.
const (
	stateFree    uint64 = 0
	stateActive  uint64 = 1
	stateClosed  uint64 = 2
	roleProducer uint64 = 1
	roleConsumer uint64 = 2
)

func ownerWord(generation uint32, role, state uint64) uint64 {
	return uint64(generation)<<32 | (role&0xff)<<8 | (state & 0xff)
}

func ownerParts(word uint64) (generation uint32, role, state uint64) {
	return uint32(word >> 32), (word >> 8) & 0xff, word & 0xff
}

// Kind is the kind of a ring.
type Kind uint32

const (
	// SPSC: one producer, one consumer.
	SPSC Kind = 1
	// MPMC: many producers, many consumers, each message to exactly one consumer.
	MPMC Kind = 2
	// kindBroadcast (layout 2.1): one producer, many subscribers. This
	// package opens no broadcast ring yet; it refuses one with ErrWrongKind.
	kindBroadcast Kind = 3
)

func (k Kind) String() string {
	switch k {
	case SPSC:
		return "spsc"
	case MPMC:
		return "mpmc"
	case kindBroadcast:
		return "broadcast"
	}
	return fmt.Sprintf("kind(%d)", uint32(k))
}

func (k Kind) slotHeaderSize(fixed bool) uint64 {
	var withLen uint64 = spscSlotHeaderSize
	if k == MPMC {
		withLen = mpmcSlotHeaderSize
	}
	if fixed {
		return withLen - slotLenFieldSize
	}
	return withLen
}

// Geometry is the validated geometry of a ring: the local copy every handle
// keeps and uses instead of re-reading the header from shared memory.
type Geometry struct {
	Kind             Kind
	FixedSize        bool   // every message is exactly MaxPayload bytes
	Capacity         uint64 // number of slots, a power of two
	Mask             uint64 // Capacity - 1
	SlotSize         uint64 // bytes per slot, slot header included
	SlotHeaderSize   uint64 // bytes before the payload in each slot
	MaxPayload       uint64 // largest message
	ParticipantCount uint32 // participant records
	SlotsOffset      uint64 // offset of slot 0
	TotalSize        uint64 // size of the ring in bytes
}

// geometryError is an ErrBadGeometry that knows the header field to blame, so
// that a file whose header holds the same numbers is reported as corrupt,
// naming the field (geometryFromHeader), as Rust does.
type geometryError struct{ field, reason string }

func (e *geometryError) Error() string        { return ErrBadGeometry.Error() + ": " + e.reason }
func (e *geometryError) Is(target error) bool { return target == ErrBadGeometry }

func badGeometry(field, reason string) error { return &geometryError{field, reason} }

// newGeometry checks create-time parameters and derives the rest, as Rust's
// Geometry::new does (same checks, same order).
func newGeometry(kind Kind, capacity, slotSize uint64, participants uint32, fixed bool) (Geometry, error) {
	if kind != SPSC && kind != MPMC {
		return Geometry{}, badGeometry("kind", fmt.Sprintf("unknown kind code %d", uint32(kind)))
	}
	if bits.OnesCount64(capacity) != 1 || capacity < MinCapacity || capacity > MaxCapacity {
		return Geometry{}, badGeometry("capacity", fmt.Sprintf("capacity %d must be a power of two between %d and %d",
			capacity, MinCapacity, MaxCapacity))
	}
	slotHeader := kind.slotHeaderSize(fixed)
	if slotSize < slotHeader+MinMaxPayload {
		return Geometry{}, badGeometry("slot_size", fmt.Sprintf("slot size %d is too small: a %v slot needs at least %d bytes",
			slotSize, kind, slotHeader+MinMaxPayload))
	}
	if slotSize%8 != 0 || slotSize > MaxSlotSize {
		return Geometry{}, badGeometry("slot_size", fmt.Sprintf("slot size %d must be a multiple of 8 and at most %d",
			slotSize, MaxSlotSize))
	}
	if kind == SPSC && participants != 2 {
		return Geometry{}, badGeometry("participant_count", fmt.Sprintf("a spsc ring has exactly 2 participant records, not %d",
			participants))
	}
	if kind == MPMC && (participants < 2 || participants > MaxParticipants) {
		return Geometry{}, badGeometry("participant_count", fmt.Sprintf("participant count %d must be between 2 and %d",
			participants, MaxParticipants))
	}
	slotsOffset := uint64(participantsOffset) + uint64(participants)*participantRecordSize
	hi, slotsBytes := bits.Mul64(capacity, slotSize)
	total, carry := bits.Add64(slotsBytes, slotsOffset, 0)
	if hi != 0 || carry != 0 || total > MaxTotalSize {
		return Geometry{}, badGeometry("capacity and slot_size", fmt.Sprintf("%d slots of %d bytes exceed the largest ring of %d bytes",
			capacity, slotSize, MaxTotalSize))
	}
	return Geometry{
		Kind:             kind,
		FixedSize:        fixed,
		Capacity:         capacity,
		Mask:             capacity - 1,
		SlotSize:         slotSize,
		SlotHeaderSize:   slotHeader,
		MaxPayload:       slotSize - slotHeader,
		ParticipantCount: participants,
		SlotsOffset:      slotsOffset,
		TotalSize:        total,
	}, nil
}

// lenFieldSize is the size of the len/flags words at the start of a slot body:
// 8, or 0 with fixed-size messages.
func (g *Geometry) lenFieldSize() uint64 {
	if g.FixedSize {
		return 0
	}
	return slotLenFieldSize
}

// bodyOffsetInSlot is where a slot's body (length field, then payload) starts:
// after the MPMC stamp, if any.
func (g *Geometry) bodyOffsetInSlot() uint64 {
	return g.SlotHeaderSize - g.lenFieldSize()
}

func (g *Geometry) recordOffset(index uint32) uint64 {
	return participantsOffset + uint64(index)*participantRecordSize
}

// slotOffset is the file offset of the slot of position (masked, so in bounds).
func (g *Geometry) slotOffset(position uint64) uint64 {
	return g.SlotsOffset + (position&g.Mask)*g.SlotSize
}

// headerBytes is the header a creator writes for this geometry, ready word zero.
func (g *Geometry) headerBytes(creatorPid uint32, creationNs uint64) [HeaderSize]byte {
	var b [HeaderSize]byte
	le := binary.LittleEndian
	le.PutUint64(b[hdrMagic:], Magic)
	le.PutUint16(b[hdrVersionMajor:], VersionMajor)
	le.PutUint16(b[hdrVersionMinor:], VersionMinor)
	le.PutUint32(b[hdrKind:], uint32(g.Kind))
	le.PutUint32(b[hdrLineSize:], LineSize)
	le.PutUint32(b[hdrSlotHeaderSize:], uint32(g.SlotHeaderSize))
	le.PutUint64(b[hdrCapacity:], g.Capacity)
	le.PutUint64(b[hdrSlotSize:], g.SlotSize)
	le.PutUint64(b[hdrMaxPayload:], g.MaxPayload)
	le.PutUint64(b[hdrProducerLineOffset:], producerLineOffset)
	le.PutUint64(b[hdrConsumerLineOffset:], consumerLineOffset)
	le.PutUint64(b[hdrWaitLinesOffset:], waitLinesOffset)
	le.PutUint64(b[hdrParticipantsOffset:], participantsOffset)
	le.PutUint32(b[hdrParticipantCount:], g.ParticipantCount)
	le.PutUint32(b[hdrParticipantRecordSize:], participantRecordSize)
	le.PutUint64(b[hdrSlotsOffset:], g.SlotsOffset)
	le.PutUint64(b[hdrTotalSize:], g.TotalSize)
	var flags uint32
	if g.FixedSize {
		flags = FlagFixedSize
	}
	le.PutUint32(b[hdrFlags:], flags)
	le.PutUint32(b[hdrCreatorPid:], creatorPid)
	le.PutUint64(b[hdrCreationTimeNs:], creationNs)
	le.PutUint64(b[hdrLayoutHash:], layoutHash(&b))
	return b
}

// layoutHash is FNV-1a 64 over header bytes 0..112.
func layoutHash(b *[HeaderSize]byte) uint64 {
	return fnv1a64(b[:HashedHeaderBytes])
}

const (
	fnvOffsetBasis uint64 = 0xcbf29ce484222325
	fnvPrime       uint64 = 0x100000001b3
)

func fnv1a64(data []byte) uint64 {
	hash := fnvOffsetBasis
	for _, c := range data {
		hash ^= uint64(c)
		hash *= fnvPrime
	}
	return hash
}

// geometryFromHeader validates a header copied out of a file of fileSize bytes,
// comparing every field with a value recomputed from kind, flags, capacity, slot
// size and participant count, in the order of Rust's Geometry::from_header.
func geometryFromHeader(b *[HeaderSize]byte, fileSize uint64) (Geometry, error) {
	le := binary.LittleEndian
	if magic := le.Uint64(b[hdrMagic:]); magic != Magic {
		return Geometry{}, fmt.Errorf("%w: magic is %#018x, expected %#018x", ErrNotRing, magic, Magic)
	}
	major, minor := le.Uint16(b[hdrVersionMajor:]), le.Uint16(b[hdrVersionMinor:])
	if major != VersionMajor {
		return Geometry{}, fmt.Errorf("%w: ring layout version %d.%d (this package reads %d.x)",
			ErrVersion, major, minor, VersionMajor)
	}
	kind := Kind(le.Uint32(b[hdrKind:]))
	// A header that fails the checks of a create is corrupt, whoever opens it:
	// creators check their geometry before they make a file.
	if kind == kindBroadcast {
		return Geometry{}, fmt.Errorf("%w: ring is broadcast (layout %d.%d), which this package does not open yet",
			ErrWrongKind, major, minor)
	}
	if kind != SPSC && kind != MPMC {
		return Geometry{}, fmt.Errorf("%w: header field kind is %d, not a known kind code", ErrCorrupt, uint32(kind))
	}
	flags := le.Uint32(b[hdrFlags:])
	if flags&^knownFlags != 0 {
		return Geometry{}, fmt.Errorf("%w: header field flags has unknown bits %#x", ErrCorrupt, flags&^knownFlags)
	}
	g, err := newGeometry(kind, le.Uint64(b[hdrCapacity:]), le.Uint64(b[hdrSlotSize:]),
		le.Uint32(b[hdrParticipantCount:]), flags&FlagFixedSize != 0)
	var bad *geometryError
	if errors.As(err, &bad) {
		return Geometry{}, fmt.Errorf("%w: header field %s: %s", ErrCorrupt, bad.field, bad.reason)
	}
	if err != nil {
		return Geometry{}, err
	}
	want := g.headerBytes(le.Uint32(b[hdrCreatorPid:]), le.Uint64(b[hdrCreationTimeNs:]))
	checks := [...]struct {
		name   string
		offset int
		width  int
	}{
		{"line_size", hdrLineSize, 4},
		{"slot_header_size", hdrSlotHeaderSize, 4},
		{"max_payload", hdrMaxPayload, 8},
		{"producer_line_offset", hdrProducerLineOffset, 8},
		{"consumer_line_offset", hdrConsumerLineOffset, 8},
		{"wait_lines_offset", hdrWaitLinesOffset, 8},
		{"participants_offset", hdrParticipantsOffset, 8},
		{"participant_record_size", hdrParticipantRecordSize, 4},
		{"slots_offset", hdrSlotsOffset, 8},
		{"total_size", hdrTotalSize, 8},
	}
	read := func(buf *[HeaderSize]byte, offset, width int) uint64 {
		if width == 4 {
			return uint64(le.Uint32(buf[offset:]))
		}
		return le.Uint64(buf[offset:])
	}
	for _, c := range checks {
		if found, expected := read(b, c.offset, c.width), read(&want, c.offset, c.width); found != expected {
			return Geometry{}, fmt.Errorf("%w: header field %s is %d, expected %d", ErrCorrupt, c.name, found, expected)
		}
	}
	if found, expected := le.Uint64(b[hdrLayoutHash:]), layoutHash(b); found != expected {
		return Geometry{}, fmt.Errorf("%w: header field layout_hash is %d, expected %d", ErrCorrupt, found, expected)
	}
	if fileSize < g.TotalSize {
		return Geometry{}, fmt.Errorf("%w: ring file is %d bytes but its header describes %d bytes",
			ErrFileTooSmall, fileSize, g.TotalSize)
	}
	return g, nil
}
