//! Layout 2.2 of a ring file: the one Rust description of `docs/layout.md`.
//!
//! `#[repr(C)]` structs with explicit padding and fixed widths on every target
//! (little-endian, `u64` positions, `u32` futex words, a 128-byte line per
//! group of atomics written by one side), `const` asserts that pin every offset
//! to the tables of `docs/layout.md#file-map` and the sections after it, and
//! [`Geometry`], the validated local copy of the header every handle keeps.

use crate::error::{Error, Role};

#[cfg(not(target_endian = "little"))]
compile_error!("shmlane's layout is little-endian; big-endian targets are not supported");

/// `b"SHMLANE\0"` read as a little-endian `u64`.
pub const MAGIC: u64 = u64::from_le_bytes(*b"SHMLANE\0");
/// Major version of the layout: readers refuse any other major version.
pub const VERSION_MAJOR: u16 = 2;
/// Minor version of the layout: readers accept any minor version of their major.
pub const VERSION_MINOR: u16 = 2;
/// Value of the ready word once the creator has written the whole header.
pub const READY: u32 = 0x5944_4552; // b"REDY" little-endian
/// Width of every line that holds an independently written group of atomics.
pub const LINE_SIZE: usize = 128;

/// Size of the header at the start of the file.
pub const HEADER_SIZE: usize = 256;
/// Offset of the producer line.
pub const PRODUCER_LINE_OFFSET: usize = HEADER_SIZE;
/// Offset of the consumer line.
pub const CONSUMER_LINE_OFFSET: usize = PRODUCER_LINE_OFFSET + LINE_SIZE;
/// Offset of the two wait lines (data available, then space available).
pub const WAIT_LINES_OFFSET: usize = CONSUMER_LINE_OFFSET + LINE_SIZE;
/// Offset of the membership line: how many producers and consumers ever joined.
/// Read on every full or empty poll, written only by joins, so it has a line of
/// its own rather than disturbing the position lines.
pub const MEMBERSHIP_LINE_OFFSET: usize = WAIT_LINES_OFFSET + 2 * LINE_SIZE;
/// Offset of the participant table.
pub const PARTICIPANTS_OFFSET: usize = MEMBERSHIP_LINE_OFFSET + LINE_SIZE;
/// Size of one participant record.
pub const PARTICIPANT_RECORD_SIZE: usize = LINE_SIZE;

/// Number of bytes covered by the layout hash: every header field before it.
pub const HASHED_HEADER_BYTES: usize = 112;

/// Header flag: every message is exactly `max_payload` bytes, and slots carry no
/// length field (`slot_header_size` is 8 bytes smaller).
pub const FLAG_FIXED_SIZE: u32 = 1;
/// Header flag, broadcast rings only (layout 2.2): the producer overwrites the
/// oldest message and never waits; the ring admits no tethered subscriber.
pub const FLAG_OVERWRITE: u32 = 2;
/// Every flag this build understands.
pub const KNOWN_FLAGS: u32 = FLAG_FIXED_SIZE | FLAG_OVERWRITE;

/// Smallest capacity (slots) a ring may have.
pub const MIN_CAPACITY: u64 = 2;
/// Largest capacity (slots) a ring may have.
pub const MAX_CAPACITY: u64 = 1 << 32;
/// Smallest payload a slot may carry.
pub const MIN_MAX_PAYLOAD: u64 = 8;
/// Largest slot size: keeps every length within the `u32` length field.
pub const MAX_SLOT_SIZE: u64 = 1 << 31;
/// Largest total file size accepted (1 TiB).
pub const MAX_TOTAL_SIZE: u64 = 1 << 40;

/// Header: written once by the creator before the ready word, then read-only.
///
/// Mirrors `docs/layout.md`, section "Header". All integers little-endian.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// [`MAGIC`].
    pub magic: u64,
    /// [`VERSION_MAJOR`].
    pub version_major: u16,
    /// [`VERSION_MINOR`].
    pub version_minor: u16,
    /// Kind code: 1 SPSC, 2 MPMC, 3 broadcast.
    pub kind: u32,
    /// [`LINE_SIZE`].
    pub line_size: u32,
    /// Bytes before the payload in each slot: SPSC 8 (0 with fixed-size
    /// messages), MPMC and broadcast 16 (8 with fixed-size messages).
    pub slot_header_size: u32,
    /// Number of slots, a power of two.
    pub capacity: u64,
    /// Bytes per slot, slot header included, a multiple of 8.
    pub slot_size: u64,
    /// `slot_size - slot_header_size`.
    pub max_payload: u64,
    /// [`PRODUCER_LINE_OFFSET`].
    pub producer_line_offset: u64,
    /// [`CONSUMER_LINE_OFFSET`].
    pub consumer_line_offset: u64,
    /// [`WAIT_LINES_OFFSET`].
    pub wait_lines_offset: u64,
    /// [`PARTICIPANTS_OFFSET`].
    pub participants_offset: u64,
    /// Number of participant records.
    pub participant_count: u32,
    /// [`PARTICIPANT_RECORD_SIZE`].
    pub participant_record_size: u32,
    /// Offset of slot 0.
    pub slots_offset: u64,
    /// Size of the whole ring in bytes.
    pub total_size: u64,
    /// Flag bits: [`FLAG_FIXED_SIZE`], [`FLAG_OVERWRITE`]; every other bit is zero.
    pub flags: u32,
    /// Reserved, zero.
    pub reserved0: u32,
    /// FNV-1a 64 of header bytes `0..112` (every field above).
    pub layout_hash: u64,
    /// Process id of the creator (informational).
    pub creator_pid: u32,
    /// Reserved, zero.
    pub reserved1: u32,
    /// [`READY`] once the header is complete; stored last, with Release.
    pub ready: u32,
    /// Reserved, zero.
    pub reserved2: u32,
    /// Creation time, nanoseconds since the Unix epoch (informational).
    pub creation_time_ns: u64,
    /// Reserved, zero.
    pub reserved3: [u8; 112],
}

/// Offset of [`Header::ready`].
pub const READY_OFFSET: usize = 128;
/// Offset of [`Header::magic`].
pub const MAGIC_OFFSET: usize = 0;
/// Offset of [`Header::creator_pid`].
pub const CREATOR_PID_OFFSET: usize = 120;

/// Offset of the position inside the producer line (SPSC: next position to write).
pub const TAIL_OFFSET: usize = PRODUCER_LINE_OFFSET;
/// Offset of the broadcast producer's gate, in the producer line: every
/// position at or past it stays unwritten until the producer has looked at
/// the subscribers again (`docs/layout.md#broadcast`).
pub const GATE_OFFSET: usize = PRODUCER_LINE_OFFSET + 8;
/// Offset of the position inside the consumer line (SPSC: next position to read).
pub const HEAD_OFFSET: usize = CONSUMER_LINE_OFFSET;
/// Offset of the count of producer joins, in the membership line (MPMC).
pub const PRODUCER_JOINS_OFFSET: usize = MEMBERSHIP_LINE_OFFSET;
/// Offset of the count of consumer joins, in the membership line (MPMC).
pub const CONSUMER_JOINS_OFFSET: usize = MEMBERSHIP_LINE_OFFSET + 8;
/// Offset of the count of claimed positions whose producer died before
/// publishing them, turned into skipped slots by recovery (MPMC).
pub const DROPPED_CLAIMS_OFFSET: usize = MEMBERSHIP_LINE_OFFSET + 16;
/// Offset of the count of committed messages released by recovery because the
/// consumer that had claimed them died (MPMC).
pub const LOST_MESSAGES_OFFSET: usize = MEMBERSHIP_LINE_OFFSET + 24;

/// Bit of an MPMC slot stamp marking a message to be skipped: its producer
/// abandoned the reservation. The other 63 bits are the stamp's position.
pub const STAMP_SKIP: u64 = 1 << 63;
/// Bit of a broadcast slot stamp: the producer is writing the message of the
/// stamp's position (bits 0–62) into the slot.
pub const STAMP_WRITING: u64 = 1 << 63;

/// One of the two wait lines; used by blocking waits.
///
/// Line 0 ("data available") is waited on by consumers and woken by producers;
/// line 1 ("space available") the other way round.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct WaitLine {
    /// Futex word: bumped by the waking side after it publishes.
    pub futex: u32,
    /// Number of waiters that announced themselves.
    pub waiters: u32,
    /// Number of times a waiter went to sleep.
    pub sleeps: u64,
    /// Number of wake calls made.
    pub wakes: u64,
    /// Number of handles registered as sleepers on this line: while it is not
    /// zero, the waking side checks for waiters after every publish.
    pub sleepers: u32,
    /// Reserved, zero.
    pub reserved0: u32,
    /// Registration epoch: bumped by every registration and deregistration of a
    /// sleeper, so that waking handles notice and acknowledge the change.
    pub epoch: u64,
    /// Reserved, zero.
    pub reserved: [u8; 88],
}

/// Offset of [`WaitLine::futex`] inside a wait line.
pub const WAIT_FUTEX: usize = 0;
/// Offset of [`WaitLine::waiters`] inside a wait line.
pub const WAIT_WAITERS: usize = 4;
/// Offset of [`WaitLine::sleeps`] inside a wait line.
pub const WAIT_SLEEPS: usize = 8;
/// Offset of [`WaitLine::wakes`] inside a wait line.
pub const WAIT_WAKES: usize = 16;
/// Offset of [`WaitLine::sleepers`] inside a wait line.
pub const WAIT_SLEEPERS: usize = 24;
/// Offset of [`WaitLine::epoch`] inside a wait line.
pub const WAIT_EPOCH: usize = 32;
/// Offset of wait line 0, "data available": consumers wait, producers wake.
pub const DATA_WAIT_LINE_OFFSET: usize = WAIT_LINES_OFFSET;
/// Offset of wait line 1, "space available": producers wait, consumers wake.
pub const SPACE_WAIT_LINE_OFFSET: usize = WAIT_LINES_OFFSET + LINE_SIZE;

/// A participant record: one per producer or consumer handle, one line each.
///
/// The record's byte range in the file is also the range of the owner's OFD lock.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ParticipantRecord {
    /// Owner word: `generation << 32 | role << 8 | state`, claimed by CAS.
    pub owner: u64,
    /// Process id of the owner (informational; liveness is decided by the lock).
    pub pid: u32,
    /// Broadcast subscribers: [`SUBSCRIPTION_TETHERED`] or
    /// [`SUBSCRIPTION_UNTETHERED`]; zero in every other record.
    pub subscription: u32,
    /// When the owner joined, nanoseconds since the Unix epoch.
    pub joined_ns: u64,
    /// Broadcast subscribers: the next position this subscriber reads; every
    /// position before it is released. Written only by the owner.
    pub cursor: u64,
    /// Reserved for counters written by the owner: messages.
    pub messages: u64,
    /// Reserved for counters written by the owner: bytes.
    pub bytes: u64,
    /// Broadcast subscribers: how many messages this subscriber lost to the
    /// producer lapping it (untethered only). Written only by the owner.
    pub lost: u64,
    /// The wait-line epoch this handle last acknowledged as a waker (producers:
    /// of the data line; consumers: of the space line). Reset to 0 by each claim.
    pub wake_ack: u64,
    /// What the owner holds on the wait line it sleeps on (consumers: the data
    /// line; producers: the space line), so that whoever takes a dead owner's
    /// record over can undo it: bit 0, registered as a sleeper; bit 1,
    /// announced as a waiter.
    pub wait_state: u64,
    /// MPMC crash recovery: the first position of the range the owner is
    /// claiming or holds (`claim_start ..claim_end`), written before each
    /// claim. In the record's second 64 bytes, with `claim_end`, away from the
    /// words other handles read.
    pub claim_start: u64,
    /// MPMC crash recovery: the end (exclusive) of the range the owner is
    /// claiming or holds; `claim_end <= claim_start` is no range.
    pub claim_end: u64,
    /// Reserved, zero.
    pub reserved: [u8; 40],
}

/// Offset of [`ParticipantRecord::owner`] inside a record.
pub const RECORD_OWNER: usize = 0;
/// Offset of [`ParticipantRecord::pid`] inside a record.
pub const RECORD_PID: usize = 8;
/// Offset of [`ParticipantRecord::subscription`] inside a record.
pub const RECORD_SUBSCRIPTION: usize = 12;
/// Offset of [`ParticipantRecord::joined_ns`] inside a record.
pub const RECORD_JOINED_NS: usize = 16;
/// Offset of [`ParticipantRecord::cursor`] inside a record.
pub const RECORD_CURSOR: usize = 24;
/// Offset of [`ParticipantRecord::lost`] inside a record.
pub const RECORD_LOST: usize = 48;
/// [`ParticipantRecord::subscription`]: a tethered subscriber, which the
/// producer waits for (lossless).
pub const SUBSCRIPTION_TETHERED: u32 = 1;
/// [`ParticipantRecord::subscription`]: an untethered subscriber, which never
/// holds the producer back (lossy).
pub const SUBSCRIPTION_UNTETHERED: u32 = 2;
/// Offset of [`ParticipantRecord::claim_start`] inside a record.
pub const RECORD_CLAIM_START: usize = 72;
/// Offset of [`ParticipantRecord::claim_end`] inside a record.
pub const RECORD_CLAIM_END: usize = 80;
/// Offset of [`ParticipantRecord::wake_ack`] inside a record.
pub const RECORD_WAKE_ACK: usize = 56;
/// Offset of [`ParticipantRecord::wait_state`] inside a record.
pub const RECORD_WAIT_STATE: usize = 64;
/// [`ParticipantRecord::wait_state`] bit: the owner is registered as a sleeper.
pub const WAIT_STATE_REGISTERED: u64 = 1;
/// [`ParticipantRecord::wait_state`] bit: the owner is announced as a waiter.
pub const WAIT_STATE_WAITING: u64 = 2;

/// Slot header of an SPSC slot: the message length, then the payload.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SpscSlotHeader {
    /// Length of the message in bytes, at most `max_payload`.
    pub len: u32,
    /// Reserved, zero.
    pub flags: u32,
}

/// Slot header of an MPMC slot: the sequence stamp, then the same as SPSC.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct MpmcSlotHeader {
    /// Sequence stamp of the slot (reserved for the MPMC kind).
    pub stamp: u64,
    /// Length of the message in bytes, at most `max_payload`.
    pub len: u32,
    /// Reserved, zero.
    pub flags: u32,
}

/// Size of the part of a slot that carries the length and flags (the "body" starts
/// with it): `len: u32`, `flags: u32`.
pub const SLOT_LEN_FIELD_SIZE: usize = 8;

/// The kind of a ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// One producer, one consumer.
    Spsc,
    /// Many producers, many consumers, each message to one consumer.
    Mpmc,
    /// One producer, many subscribers, every message to every subscriber.
    Broadcast,
}

impl Kind {
    /// The kind's code in the header.
    pub const fn code(self) -> u32 {
        match self {
            Kind::Spsc => 1,
            Kind::Mpmc => 2,
            Kind::Broadcast => 3,
        }
    }

    /// The kind for a header code, if it is one this build knows.
    pub const fn from_code(code: u32) -> Option<Kind> {
        match code {
            1 => Some(Kind::Spsc),
            2 => Some(Kind::Mpmc),
            3 => Some(Kind::Broadcast),
            _ => None,
        }
    }

    /// Bytes before the payload in each slot of this kind: the length field is
    /// left out when every message has the same size.
    pub const fn slot_header_size(self, fixed_size: bool) -> usize {
        let with_len = match self {
            Kind::Spsc => std::mem::size_of::<SpscSlotHeader>(),
            // A broadcast slot is laid out as an MPMC slot: stamp, len, flags.
            Kind::Mpmc | Kind::Broadcast => std::mem::size_of::<MpmcSlotHeader>(),
        };
        if fixed_size {
            with_len - SLOT_LEN_FIELD_SIZE
        } else {
            with_len
        }
    }

    /// Number of participant records an SPSC ring has; MPMC and broadcast
    /// rings choose theirs.
    pub(crate) const fn fixed_participants(self) -> Option<u32> {
        match self {
            Kind::Spsc => Some(2),
            Kind::Mpmc | Kind::Broadcast => None,
        }
    }
}

impl Kind {
    /// The kind's name as messages and tools spell it: `spsc`, `mpmc`,
    /// `broadcast`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Spsc => "spsc",
            Kind::Mpmc => "mpmc",
            Kind::Broadcast => "broadcast",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Largest participant table an MPMC or broadcast ring may have.
pub const MAX_PARTICIPANTS: u32 = 1024;

/// What a ring's producer does when every slot holds a message someone still
/// has to read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Overflow {
    /// It waits (or reports the ring full) until a slot is released: nothing
    /// is lost. Every SPSC and MPMC ring, and broadcast rings by default, whose
    /// tethered subscribers hold the producer back.
    #[default]
    Block,
    /// Broadcast only: it overwrites the oldest message and never waits.
    /// Subscribers are untethered and learn how many messages they lost.
    Overwrite,
}

impl Overflow {
    /// `"block"` or `"overwrite"`, as the CLI's `--overflow` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Overflow::Block => "block",
            Overflow::Overwrite => "overwrite",
        }
    }
}

impl std::fmt::Display for Overflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The validated geometry of a ring: the local copy every handle keeps.
///
/// Built either from create options ([`Geometry::new`]) or from a header read out
/// of a file ([`Geometry::from_header`]); in both cases every derived value is
/// recomputed here rather than taken from shared memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Geometry {
    /// Kind of ring.
    pub kind: Kind,
    /// Whether every message is exactly `max_payload` bytes (no length field).
    pub fixed_size: bool,
    /// What the producer does when the ring is full: always
    /// [`Overflow::Block`] but for a broadcast ring made to overwrite.
    pub overflow: Overflow,
    /// Number of slots (a power of two).
    pub capacity: u64,
    /// `capacity - 1`.
    pub mask: u64,
    /// Bytes per slot.
    pub slot_size: u64,
    /// Bytes before the payload in each slot.
    pub slot_header_size: u64,
    /// Largest message a slot carries.
    pub max_payload: u64,
    /// Number of participant records.
    pub participant_count: u32,
    /// Offset of slot 0.
    pub slots_offset: u64,
    /// Size of the whole ring in bytes.
    pub total_size: u64,
}

impl Geometry {
    /// Checks create-time parameters and derives the rest of the geometry.
    ///
    /// `fixed_size` rings carry messages of exactly `max_payload` bytes and no
    /// length field in their slots.
    ///
    /// # Errors
    /// [`ErrorKind::BadGeometry`](crate::ErrorKind::BadGeometry) when the capacity is not a power of two in
    /// `2..=2^32`, the slot size is not a multiple of 8 or leaves fewer than 8
    /// payload bytes or exceeds 2 GiB, the participant count does not suit the
    /// kind, or the ring would exceed 1 TiB.
    pub fn new(
        kind: Kind,
        capacity: u64,
        slot_size: u64,
        participants: u32,
        fixed_size: bool,
    ) -> Result<Geometry, Error> {
        Geometry::checked(kind, capacity, slot_size, participants, fixed_size)
            .map_err(|(_, reason)| Error::bad_geometry(reason))
    }

    /// [`Geometry::new`], failing with the header field to blame and why.
    fn checked(
        kind: Kind,
        capacity: u64,
        slot_size: u64,
        participants: u32,
        fixed_size: bool,
    ) -> Result<Geometry, (&'static str, String)> {
        if !capacity.is_power_of_two() || !(MIN_CAPACITY..=MAX_CAPACITY).contains(&capacity) {
            return Err(("capacity", format!(
                "capacity {capacity} must be a power of two between {MIN_CAPACITY} and {MAX_CAPACITY}"
            )));
        }
        let slot_header_size = kind.slot_header_size(fixed_size) as u64;
        let min_slot = slot_header_size + MIN_MAX_PAYLOAD;
        if slot_size < min_slot {
            return Err((
                "slot_size",
                format!(
                "slot size {slot_size} is too small: a {kind} slot needs at least {min_slot} bytes \
                 ({slot_header_size} of header and {MIN_MAX_PAYLOAD} of payload)"
            ),
            ));
        }
        if slot_size % 8 != 0 || slot_size > MAX_SLOT_SIZE {
            return Err((
                "slot_size",
                format!(
                    "slot size {slot_size} must be a multiple of 8 and at most {MAX_SLOT_SIZE}"
                ),
            ));
        }
        match kind.fixed_participants() {
            Some(fixed) if participants != fixed => {
                return Err((
                    "participant_count",
                    format!(
                        "a {kind} ring has exactly {fixed} participant records, not {participants}"
                    ),
                ));
            }
            None if !(2..=MAX_PARTICIPANTS).contains(&participants) => {
                return Err((
                    "participant_count",
                    format!(
                        "participant count {participants} must be between 2 and {MAX_PARTICIPANTS}"
                    ),
                ));
            }
            _ => {}
        }
        let slots_offset =
            PARTICIPANTS_OFFSET as u64 + u64::from(participants) * PARTICIPANT_RECORD_SIZE as u64;
        let total_size = capacity
            .checked_mul(slot_size)
            .and_then(|slots| slots.checked_add(slots_offset))
            .filter(|&total| total <= MAX_TOTAL_SIZE);
        let Some(total_size) = total_size else {
            return Err(("capacity and slot_size", format!(
                "{capacity} slots of {slot_size} bytes exceed the largest ring of {MAX_TOTAL_SIZE} bytes"
            )));
        };
        if usize::try_from(total_size).is_err() {
            return Err((
                "capacity and slot_size",
                format!("a ring of {total_size} bytes does not fit this address space"),
            ));
        }
        Ok(Geometry {
            kind,
            fixed_size,
            overflow: Overflow::Block,
            capacity,
            mask: capacity - 1,
            slot_size,
            slot_header_size,
            max_payload: slot_size - slot_header_size,
            participant_count: participants,
            slots_offset,
            total_size,
        })
    }

    /// This geometry with the producer's policy when the ring is full.
    ///
    /// # Errors
    /// [`ErrorKind::BadGeometry`](crate::ErrorKind::BadGeometry) for
    /// [`Overflow::Overwrite`] on a ring other than broadcast: only a
    /// broadcast producer can overwrite what its (untethered) readers may lose.
    pub fn with_overflow(self, overflow: Overflow) -> Result<Geometry, Error> {
        if overflow == Overflow::Overwrite && self.kind != Kind::Broadcast {
            return Err(Error::bad_geometry(format!(
                "a {} ring cannot overwrite: only a broadcast ring can",
                self.kind
            )));
        }
        Ok(Geometry { overflow, ..self })
    }

    /// The header's `flags` for this geometry.
    fn flags(&self) -> u32 {
        let mut flags = 0;
        if self.fixed_size {
            flags |= FLAG_FIXED_SIZE;
        }
        if self.overflow == Overflow::Overwrite {
            flags |= FLAG_OVERWRITE;
        }
        flags
    }

    /// The header a creator writes for this geometry (ready word still zero).
    pub fn header(&self, creator_pid: u32, creation_time_ns: u64) -> Header {
        let mut header = Header {
            magic: MAGIC,
            version_major: VERSION_MAJOR,
            version_minor: VERSION_MINOR,
            kind: self.kind.code(),
            line_size: LINE_SIZE as u32,
            slot_header_size: self.slot_header_size as u32,
            capacity: self.capacity,
            slot_size: self.slot_size,
            max_payload: self.max_payload,
            producer_line_offset: PRODUCER_LINE_OFFSET as u64,
            consumer_line_offset: CONSUMER_LINE_OFFSET as u64,
            wait_lines_offset: WAIT_LINES_OFFSET as u64,
            participants_offset: PARTICIPANTS_OFFSET as u64,
            participant_count: self.participant_count,
            participant_record_size: PARTICIPANT_RECORD_SIZE as u32,
            slots_offset: self.slots_offset,
            total_size: self.total_size,
            flags: self.flags(),
            reserved0: 0,
            layout_hash: 0,
            creator_pid,
            reserved1: 0,
            ready: 0,
            reserved2: 0,
            creation_time_ns,
            reserved3: [0; 112],
        };
        header.layout_hash = header_hash(&header.to_bytes());
        header
    }

    /// Validates a header read from a file of `file_size` bytes.
    ///
    /// Every field is compared with a value recomputed from the kind, capacity,
    /// slot size and participant count; nothing is trusted on its own.
    ///
    /// # Errors
    /// [`ErrorKind::NotARing`](crate::ErrorKind::NotARing) for a wrong magic, [`ErrorKind::UnsupportedVersion`](crate::ErrorKind::UnsupportedVersion) for
    /// another major version, [`ErrorKind::Corrupt`](crate::ErrorKind::Corrupt) for a field no creator
    /// writes (an unknown kind or flag, an impossible capacity, slot size or
    /// participant count), fields inconsistent with each other or a wrong
    /// layout hash, each naming the field, and
    /// [`ErrorKind::FileTooSmall`](crate::ErrorKind::FileTooSmall) when the file is shorter than the ring.
    pub fn from_header(header: &Header, file_size: u64) -> Result<Geometry, Error> {
        if header.magic != MAGIC {
            return Err(Error::not_a_ring(format!(
                "magic is {:#018x}, expected {MAGIC:#018x}",
                header.magic
            )));
        }
        if header.version_major != VERSION_MAJOR {
            return Err(Error::unsupported_version(
                header.version_major,
                header.version_minor,
                VERSION_MAJOR,
            ));
        }
        // A header that fails these checks was not written by a creator (which
        // validates its geometry before it creates a file): the file is
        // corrupt, whoever opens it.
        let Some(kind) = Kind::from_code(header.kind) else {
            return Err(Error::corrupt(format!(
                "header field kind is {}, not a known kind code",
                header.kind
            )));
        };
        if header.flags & !KNOWN_FLAGS != 0 {
            return Err(Error::corrupt(format!(
                "header field flags has unknown bits {:#x}",
                header.flags & !KNOWN_FLAGS
            )));
        }
        let fixed_size = header.flags & FLAG_FIXED_SIZE != 0;
        let geometry = Geometry::checked(
            kind,
            header.capacity,
            header.slot_size,
            header.participant_count,
            fixed_size,
        )
        .map_err(|(field, reason)| Error::corrupt(format!("header field {field}: {reason}")))?;
        let geometry = if header.flags & FLAG_OVERWRITE != 0 {
            geometry.with_overflow(Overflow::Overwrite).map_err(|_| {
                Error::corrupt(format!(
                    "header field flags has the overwrite bit on a {kind} ring"
                ))
            })?
        } else {
            geometry
        };
        let expected = geometry.header(header.creator_pid, header.creation_time_ns);
        let mismatch = |field: &str, found: u64, want: u64| {
            Err(Error::corrupt(format!(
                "header field {field} is {found}, expected {want}"
            )))
        };
        let pairs: [(&str, u64, u64); 10] = [
            (
                "line_size",
                header.line_size.into(),
                expected.line_size.into(),
            ),
            (
                "slot_header_size",
                header.slot_header_size.into(),
                expected.slot_header_size.into(),
            ),
            ("max_payload", header.max_payload, expected.max_payload),
            (
                "producer_line_offset",
                header.producer_line_offset,
                expected.producer_line_offset,
            ),
            (
                "consumer_line_offset",
                header.consumer_line_offset,
                expected.consumer_line_offset,
            ),
            (
                "wait_lines_offset",
                header.wait_lines_offset,
                expected.wait_lines_offset,
            ),
            (
                "participants_offset",
                header.participants_offset,
                expected.participants_offset,
            ),
            (
                "participant_record_size",
                header.participant_record_size.into(),
                expected.participant_record_size.into(),
            ),
            ("slots_offset", header.slots_offset, expected.slots_offset),
            ("total_size", header.total_size, expected.total_size),
        ];
        for (field, found, want) in pairs {
            if found != want {
                return mismatch(field, found, want);
            }
        }
        let hash = header_hash(&header.to_bytes());
        if header.layout_hash != hash {
            return mismatch("layout_hash", header.layout_hash, hash);
        }
        if file_size < geometry.total_size {
            return Err(Error::file_too_small(file_size, geometry.total_size));
        }
        Ok(geometry)
    }

    /// Offset of the participant record `index`.
    pub fn record_offset(&self, index: u32) -> usize {
        PARTICIPANTS_OFFSET + index as usize * PARTICIPANT_RECORD_SIZE
    }

    /// Offset of the slot for `position` (masked, so any position is in bounds).
    #[inline]
    pub fn slot_offset(&self, position: u64) -> usize {
        (self.slots_offset + (position & self.mask) * self.slot_size) as usize
    }

    /// Size of the length field at the start of a slot body: 8, or 0 in a ring
    /// of fixed-size messages.
    #[inline]
    pub fn len_field_size(&self) -> usize {
        if self.fixed_size {
            0
        } else {
            SLOT_LEN_FIELD_SIZE
        }
    }

    /// Offset, inside a slot, of its body: the length field (if any) followed by
    /// the payload. Everything before it is the MPMC stamp.
    #[inline]
    pub fn body_offset_in_slot(&self) -> usize {
        self.slot_header_size as usize - self.len_field_size()
    }

    /// Size of a slot body: the length field (if any) and the payload.
    #[inline]
    pub fn body_size(&self) -> usize {
        self.len_field_size() + self.max_payload as usize
    }
}

impl Header {
    /// The header's bytes as they are laid out in the file.
    pub fn to_bytes(&self) -> [u8; HEADER_SIZE] {
        let mut bytes = [0u8; HEADER_SIZE];
        let mut put = |offset: usize, field: &[u8]| {
            bytes[offset..offset + field.len()].copy_from_slice(field)
        };
        put(0, &self.magic.to_le_bytes());
        put(8, &self.version_major.to_le_bytes());
        put(10, &self.version_minor.to_le_bytes());
        put(12, &self.kind.to_le_bytes());
        put(16, &self.line_size.to_le_bytes());
        put(20, &self.slot_header_size.to_le_bytes());
        put(24, &self.capacity.to_le_bytes());
        put(32, &self.slot_size.to_le_bytes());
        put(40, &self.max_payload.to_le_bytes());
        put(48, &self.producer_line_offset.to_le_bytes());
        put(56, &self.consumer_line_offset.to_le_bytes());
        put(64, &self.wait_lines_offset.to_le_bytes());
        put(72, &self.participants_offset.to_le_bytes());
        put(80, &self.participant_count.to_le_bytes());
        put(84, &self.participant_record_size.to_le_bytes());
        put(88, &self.slots_offset.to_le_bytes());
        put(96, &self.total_size.to_le_bytes());
        put(104, &self.flags.to_le_bytes());
        put(108, &self.reserved0.to_le_bytes());
        put(112, &self.layout_hash.to_le_bytes());
        put(120, &self.creator_pid.to_le_bytes());
        put(124, &self.reserved1.to_le_bytes());
        put(128, &self.ready.to_le_bytes());
        put(132, &self.reserved2.to_le_bytes());
        put(136, &self.creation_time_ns.to_le_bytes());
        put(144, &self.reserved3);
        bytes
    }

    /// Parses header bytes laid out as in the file.
    pub fn from_bytes(bytes: &[u8; HEADER_SIZE]) -> Header {
        let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]);
        let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().expect("4 bytes"));
        let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().expect("8 bytes"));
        let mut reserved3 = [0u8; 112];
        reserved3.copy_from_slice(&bytes[144..256]);
        Header {
            magic: u64_at(0),
            version_major: u16_at(8),
            version_minor: u16_at(10),
            kind: u32_at(12),
            line_size: u32_at(16),
            slot_header_size: u32_at(20),
            capacity: u64_at(24),
            slot_size: u64_at(32),
            max_payload: u64_at(40),
            producer_line_offset: u64_at(48),
            consumer_line_offset: u64_at(56),
            wait_lines_offset: u64_at(64),
            participants_offset: u64_at(72),
            participant_count: u32_at(80),
            participant_record_size: u32_at(84),
            slots_offset: u64_at(88),
            total_size: u64_at(96),
            flags: u32_at(104),
            reserved0: u32_at(108),
            layout_hash: u64_at(112),
            creator_pid: u32_at(120),
            reserved1: u32_at(124),
            ready: u32_at(128),
            reserved2: u32_at(132),
            creation_time_ns: u64_at(136),
            reserved3,
        }
    }
}

/// The layout hash: FNV-1a 64 over header bytes `0..112`.
///
/// It catches a header whose fields were changed after creation, and any
/// implementation that lays the header out differently.
pub fn header_hash(header_bytes: &[u8; HEADER_SIZE]) -> u64 {
    const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
    header_bytes[..HASHED_HEADER_BYTES]
        .iter()
        .fold(FNV_OFFSET, |hash, &byte| {
            (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME)
        })
}

// Participant owner word encoding.

/// Record state: never claimed.
pub const STATE_FREE: u64 = 0;
/// Record state: claimed by a live (or dead, if its lock is gone) owner.
pub const STATE_ACTIVE: u64 = 1;
/// Record state: the owner closed its handle.
pub const STATE_CLOSED: u64 = 2;
/// Role code of a producer.
pub const ROLE_PRODUCER: u64 = 1;
/// Role code of a consumer.
pub const ROLE_CONSUMER: u64 = 2;

/// The role code of `role` in a record's owner word.
pub(crate) fn role_code(role: Role) -> u64 {
    match role {
        Role::Producer => ROLE_PRODUCER,
        Role::Consumer => ROLE_CONSUMER,
    }
}

/// Builds an owner word from its parts.
pub const fn owner_word(generation: u32, role: u64, state: u64) -> u64 {
    (generation as u64) << 32 | (role & 0xff) << 8 | (state & 0xff)
}

/// Splits an owner word into `(generation, role, state)`.
pub const fn owner_parts(word: u64) -> (u32, u64, u64) {
    ((word >> 32) as u32, (word >> 8) & 0xff, word & 0xff)
}

// The same numbers as docs/layout.md; a change here must change the spec, the C
// tests and the Go tests together.
const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(size_of::<Header>() == HEADER_SIZE);
    assert!(offset_of!(Header, magic) == MAGIC_OFFSET);
    assert!(offset_of!(Header, version_major) == 8);
    assert!(offset_of!(Header, version_minor) == 10);
    assert!(offset_of!(Header, kind) == 12);
    assert!(offset_of!(Header, line_size) == 16);
    assert!(offset_of!(Header, slot_header_size) == 20);
    assert!(offset_of!(Header, capacity) == 24);
    assert!(offset_of!(Header, slot_size) == 32);
    assert!(offset_of!(Header, max_payload) == 40);
    assert!(offset_of!(Header, producer_line_offset) == 48);
    assert!(offset_of!(Header, consumer_line_offset) == 56);
    assert!(offset_of!(Header, wait_lines_offset) == 64);
    assert!(offset_of!(Header, participants_offset) == 72);
    assert!(offset_of!(Header, participant_count) == 80);
    assert!(offset_of!(Header, participant_record_size) == 84);
    assert!(offset_of!(Header, slots_offset) == 88);
    assert!(offset_of!(Header, total_size) == 96);
    assert!(offset_of!(Header, flags) == 104);
    assert!(offset_of!(Header, reserved0) == 108);
    assert!(offset_of!(Header, layout_hash) == HASHED_HEADER_BYTES);
    assert!(offset_of!(Header, creator_pid) == 120);
    assert!(offset_of!(Header, reserved1) == 124);
    assert!(offset_of!(Header, ready) == READY_OFFSET);
    assert!(offset_of!(Header, reserved2) == 132);
    assert!(offset_of!(Header, creation_time_ns) == 136);
    assert!(offset_of!(Header, reserved3) == 144);

    assert!(PRODUCER_LINE_OFFSET == 256);
    assert!(CONSUMER_LINE_OFFSET == 384);
    assert!(WAIT_LINES_OFFSET == 512);
    assert!(MEMBERSHIP_LINE_OFFSET == 768);
    assert!(PARTICIPANTS_OFFSET == 896);

    assert!(size_of::<WaitLine>() == LINE_SIZE);
    assert!(offset_of!(WaitLine, futex) == 0);
    assert!(offset_of!(WaitLine, waiters) == 4);
    assert!(offset_of!(WaitLine, sleeps) == 8);
    assert!(offset_of!(WaitLine, futex) == WAIT_FUTEX);
    assert!(offset_of!(WaitLine, waiters) == WAIT_WAITERS);
    assert!(offset_of!(WaitLine, sleeps) == WAIT_SLEEPS);
    assert!(offset_of!(WaitLine, wakes) == WAIT_WAKES);
    assert!(offset_of!(WaitLine, sleepers) == WAIT_SLEEPERS);
    assert!(offset_of!(WaitLine, epoch) == WAIT_EPOCH);

    assert!(size_of::<ParticipantRecord>() == PARTICIPANT_RECORD_SIZE);
    assert!(offset_of!(ParticipantRecord, owner) == RECORD_OWNER);
    assert!(offset_of!(ParticipantRecord, pid) == RECORD_PID);
    assert!(offset_of!(ParticipantRecord, joined_ns) == RECORD_JOINED_NS);
    assert!(offset_of!(ParticipantRecord, wake_ack) == RECORD_WAKE_ACK);
    assert!(offset_of!(ParticipantRecord, wait_state) == RECORD_WAIT_STATE);
    assert!(offset_of!(ParticipantRecord, cursor) == RECORD_CURSOR);
    assert!(offset_of!(ParticipantRecord, subscription) == RECORD_SUBSCRIPTION);
    assert!(GATE_OFFSET == 264);
    assert!(offset_of!(ParticipantRecord, messages) == 32);
    assert!(offset_of!(ParticipantRecord, bytes) == 40);
    assert!(offset_of!(ParticipantRecord, lost) == RECORD_LOST);
    assert!(offset_of!(ParticipantRecord, claim_start) == RECORD_CLAIM_START);
    assert!(offset_of!(ParticipantRecord, claim_end) == RECORD_CLAIM_END);

    assert!(size_of::<SpscSlotHeader>() == 8);
    assert!(offset_of!(SpscSlotHeader, len) == 0);
    assert!(size_of::<MpmcSlotHeader>() == 16);
    assert!(offset_of!(MpmcSlotHeader, stamp) == 0);
    assert!(offset_of!(MpmcSlotHeader, len) == 8);
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn spsc(capacity: u64, slot_size: u64) -> Result<Geometry, Error> {
        Geometry::new(Kind::Spsc, capacity, slot_size, 2, false)
    }

    #[test]
    fn spsc_geometry_places_slots_after_two_records() {
        let g = spsc(64, 72).unwrap();
        assert_eq!(g.slots_offset, 896 + 256);
        assert_eq!(g.total_size, 1152 + 64 * 72);
        assert_eq!(g.max_payload, 64);
        assert_eq!(g.mask, 63);
        assert_eq!(g.slot_offset(64 + 3), 1152 + 3 * 72);
    }

    #[test]
    fn bad_capacities_and_slot_sizes_are_refused() {
        for (capacity, slot_size) in [
            (0, 64),
            (1, 64),
            (3, 64),
            (1 << 33, 64),
            (8, 8),
            (8, 15),
            (8, 20),
        ] {
            assert!(
                matches!(spsc(capacity, slot_size), Err(e) if e.kind() == ErrorKind::BadGeometry),
                "{capacity} x {slot_size}"
            );
        }
        assert!(matches!(
            spsc(1 << 32, 1 << 31),
            Err(e) if e.kind() == ErrorKind::BadGeometry
        ));
        assert!(matches!(
            Geometry::new(Kind::Spsc, 8, 64, 3, false),
            Err(e) if e.kind() == ErrorKind::BadGeometry
        ));
    }

    #[test]
    fn header_round_trips_through_bytes_and_validates() {
        let g = spsc(16, 64).unwrap();
        let header = g.header(42, 7);
        let parsed = Header::from_bytes(&header.to_bytes());
        assert_eq!(parsed, header);
        assert_eq!(Geometry::from_header(&parsed, g.total_size).unwrap(), g);
    }

    #[test]
    fn fixed_size_flag_round_trips_and_unknown_flags_are_refused() {
        let g = Geometry::new(Kind::Spsc, 16, 24, 2, true).unwrap();
        let header = g.header(1, 1);
        assert_eq!(Geometry::from_header(&header, g.total_size).unwrap(), g);
        let mut header = g.header(1, 1);
        header.flags |= 4;
        header.layout_hash = header_hash(&header.to_bytes());
        assert!(matches!(
            Geometry::from_header(&header, 1 << 20),
            Err(e) if e.kind() == ErrorKind::Corrupt && e.to_string().contains("flags")
        ));
    }

    #[test]
    fn header_with_changed_field_is_corrupt() {
        let g = spsc(16, 64).unwrap();
        let mut header = g.header(1, 1);
        header.slots_offset += 128;
        assert!(matches!(
            Geometry::from_header(&header, 1 << 20),
            Err(e) if e.kind() == ErrorKind::Corrupt
        ));
        let mut header = g.header(1, 1);
        header.version_minor += 1; // hashed, but not recomputed from the geometry
        assert!(matches!(
            Geometry::from_header(&header, 1 << 20),
            Err(e) if e.kind() == ErrorKind::Corrupt
        ));
    }

    #[test]
    fn constants_and_example_match_docs_layout_md() {
        assert_eq!(MAGIC, 0x0045_4E41_4C4D_4853);
        assert_eq!(READY.to_le_bytes(), *b"REDY");
        let g = spsc(1024, 64).unwrap();
        assert_eq!(
            (g.max_payload, g.slots_offset, g.total_size),
            (56, 1152, 66_688)
        );
        assert_eq!(g.slot_offset(1500), 31_616);
        assert_eq!(
            g.slot_offset(1500) + g.body_offset_in_slot() + SLOT_LEN_FIELD_SIZE,
            31_624
        );
        let mpmc = Geometry::new(Kind::Mpmc, 8, 64, 4, false).unwrap();
        assert_eq!(
            (mpmc.slot_header_size, mpmc.slots_offset),
            (16, 896 + 4 * 128)
        );
        let fixed = Geometry::new(Kind::Spsc, 1024, 8, 2, true).unwrap();
        assert_eq!(
            (fixed.slot_header_size, fixed.max_payload, fixed.body_size()),
            (0, 8, 8)
        );
        assert_eq!(fixed.header(0, 0).flags, FLAG_FIXED_SIZE);
        assert_eq!(fixed.total_size, 9344);
        assert_eq!(fixed.slot_offset(1500), 4960);
    }

    #[test]
    fn broadcast_geometry_is_laid_out_as_mpmc_and_round_trips() {
        let g = Geometry::new(Kind::Broadcast, 8, 64, 4, false).unwrap();
        assert_eq!((g.slot_header_size, g.max_payload), (16, 48));
        assert_eq!(g.slots_offset, 896 + 4 * 128);
        let header = g.header(1, 1);
        assert_eq!(header.kind, 3);
        assert_eq!(Geometry::from_header(&header, g.total_size).unwrap(), g);
        let fixed = Geometry::new(Kind::Broadcast, 8, 16, 2, true).unwrap();
        assert_eq!((fixed.slot_header_size, fixed.max_payload), (8, 8));
        assert!(Geometry::new(Kind::Broadcast, 8, 64, 1, false).is_err());
    }

    #[test]
    fn unknown_kind_code_is_refused_naming_the_field() {
        let mut header = spsc(16, 64).unwrap().header(1, 1);
        header.kind = 4;
        header.layout_hash = header_hash(&header.to_bytes());
        let error = Geometry::from_header(&header, 1 << 20).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Corrupt);
        assert!(error.to_string().contains("kind is 4"), "{error}");
    }

    #[test]
    fn owner_word_round_trips() {
        let word = owner_word(7, ROLE_CONSUMER, STATE_ACTIVE);
        assert_eq!(owner_parts(word), (7, ROLE_CONSUMER, STATE_ACTIVE));
    }
}
