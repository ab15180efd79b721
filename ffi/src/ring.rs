//! Rings: create, open, close, remove, and read their state.

use std::ffi::c_char;
use std::time::Duration;

use shmlane::{
    Kind, OpenOptions, Overflow, ParticipantInfo, ParticipantState, Ring, RingInfo, RingOptions,
    Role, WaitInfo,
};

use crate::status::{entry, shmlane_status, Failure};
use crate::{in_arg, out_arg, path_arg, text_arg};

/// Kind code of an SPSC ring (one producer, one consumer).
pub const SHMLANE_KIND_SPSC: u32 = 1;
/// Kind code of an MPMC ring (any number of producers and consumers).
pub const SHMLANE_KIND_MPMC: u32 = 2;
/// Kind code of a broadcast ring (one producer, subscribers that each see
/// every message): joined with `shmlane_broadcast_producer_open` and
/// `shmlane_subscriber_open`.
pub const SHMLANE_KIND_BROADCAST: u32 = 3;

/// An open ring: the mapping that producers and consumers join.
///
/// Made by `shmlane_ring_create*` or `shmlane_ring_open*`, freed by
/// `shmlane_ring_close`. Thread-safe: one ring handle may be used by several
/// threads at once, and producers and consumers made from it keep the mapping
/// alive after it is closed.
pub struct shmlane_ring_t {
    pub(crate) ring: Ring,
}

/// What `shmlane_ring_create` makes. Start from `shmlane_ring_options_spsc`,
/// `shmlane_ring_options_mpmc` or `shmlane_ring_options_broadcast` and
/// change fields.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct shmlane_ring_options_t {
    /// `SHMLANE_KIND_SPSC`, `SHMLANE_KIND_MPMC` or `SHMLANE_KIND_BROADCAST`.
    pub kind: u32,
    /// Non-zero: every message is exactly the maximum payload, and slots carry
    /// no length field.
    pub fixed_size: u8,
    /// Broadcast only (`SHMLANE_STATUS_BAD_GEOMETRY` for another kind):
    /// non-zero makes the producer overwrite the oldest message when the ring
    /// is full and never wait; only untethered subscribers may join.
    pub overwrite: u8,
    /// Number of slots: a power of two, 2 to 2^32.
    pub capacity: u64,
    /// Bytes per slot, slot header included (SPSC: 8, or 0 when fixed-size;
    /// MPMC and broadcast: 16, or 8 when fixed-size); a multiple of 8.
    pub slot_size: u64,
    /// MPMC: producer and consumer handles together, 2 to 1024. Broadcast:
    /// the producer and the subscribers together, so the largest number of
    /// subscribers plus 1 (2 to 1024). Ignored for SPSC.
    pub max_participants: u32,
    /// File mode, 0600 by default; must include 0600.
    pub mode: u32,
}

/// Options for an SPSC ring of `capacity` slots of `slot_size` bytes (8 of
/// which hold the message length), mode 0600.
#[no_mangle]
pub extern "C" fn shmlane_ring_options_spsc(
    capacity: u64,
    slot_size: u64,
) -> shmlane_ring_options_t {
    shmlane_ring_options_t {
        kind: SHMLANE_KIND_SPSC,
        fixed_size: 0,
        overwrite: 0,
        capacity,
        slot_size,
        max_participants: 2,
        mode: 0o600,
    }
}

/// Options for an MPMC ring of `capacity` slots of `slot_size` bytes (16 of
/// which hold the slot's stamp and the message length) with room for
/// `max_participants` handles, mode 0600.
#[no_mangle]
pub extern "C" fn shmlane_ring_options_mpmc(
    capacity: u64,
    slot_size: u64,
    max_participants: u32,
) -> shmlane_ring_options_t {
    shmlane_ring_options_t {
        kind: SHMLANE_KIND_MPMC,
        fixed_size: 0,
        overwrite: 0,
        capacity,
        slot_size,
        max_participants,
        mode: 0o600,
    }
}

/// Options for a broadcast ring of `capacity` slots of `slot_size` bytes (16
/// of which hold the slot's stamp and the message length) for one producer
/// and up to `max_subscribers` subscribers (1 to 1023; `max_participants`
/// is one more), mode 0600.
#[no_mangle]
pub extern "C" fn shmlane_ring_options_broadcast(
    capacity: u64,
    slot_size: u64,
    max_subscribers: u32,
) -> shmlane_ring_options_t {
    shmlane_ring_options_t {
        kind: SHMLANE_KIND_BROADCAST,
        fixed_size: 0,
        overwrite: 0,
        capacity,
        slot_size,
        max_participants: max_subscribers.saturating_add(1),
        mode: 0o600,
    }
}

/// The payload size of fixed-size options whose `slot_size` holds the
/// stamp of kind `kind` (MPMC and broadcast) before the message.
fn fixed_message_size(kind: Kind, slot_size: u64) -> Result<u64, Failure> {
    let stamp = kind.slot_header_size(true) as u64;
    slot_size.checked_sub(stamp).ok_or_else(|| {
        Failure::new(
            shmlane_status::BadGeometry,
            format!("slot size {slot_size} cannot hold the {stamp}-byte stamp"),
        )
    })
}

/// The Rust options of C ring options.
fn ring_options(options: &shmlane_ring_options_t) -> Result<RingOptions, Failure> {
    let fixed = options.fixed_size != 0;
    let ring_options = match (options.kind, fixed) {
        (SHMLANE_KIND_SPSC, false) => RingOptions::spsc(options.capacity, options.slot_size),
        (SHMLANE_KIND_SPSC, true) => RingOptions::spsc_fixed(options.capacity, options.slot_size),
        (SHMLANE_KIND_MPMC, false) => RingOptions::mpmc(
            options.capacity,
            options.slot_size,
            options.max_participants,
        ),
        (SHMLANE_KIND_MPMC, true) => RingOptions::mpmc_fixed(
            options.capacity,
            fixed_message_size(Kind::Mpmc, options.slot_size)?,
            options.max_participants,
        ),
        // The Rust options count subscribers, C counts every participant.
        (SHMLANE_KIND_BROADCAST, false) => RingOptions::broadcast(
            options.capacity,
            options.slot_size,
            options.max_participants.saturating_sub(1),
        ),
        (SHMLANE_KIND_BROADCAST, true) => RingOptions::broadcast_fixed(
            options.capacity,
            fixed_message_size(Kind::Broadcast, options.slot_size)?,
            options.max_participants.saturating_sub(1),
        ),
        (kind, _) => return Err(Failure::invalid(format!("unknown ring kind {kind}"))),
    };
    let overflow = if options.overwrite != 0 {
        Overflow::Overwrite
    } else {
        Overflow::Block
    };
    Ok(ring_options.overflow(overflow).mode(options.mode))
}

/// How `shmlane_ring_open_with` opens. Start from `shmlane_open_options_default`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct shmlane_open_options_t {
    /// How long to wait for a creator that has not finished the header (default 2 s).
    pub ready_timeout_ns: u64,
    /// 0: any kind; otherwise the kind the ring must be (`SHMLANE_STATUS_WRONG_KIND`).
    pub expect_kind: u32,
    /// Non-zero: accept a ring file owned by another user.
    pub allow_other_owner: u8,
    /// Non-zero: accept a ring file writable by group or others.
    pub allow_shared_mode: u8,
}

/// The default open options: wait up to 2 s, any kind, own 0600-style files only.
#[no_mangle]
pub extern "C" fn shmlane_open_options_default() -> shmlane_open_options_t {
    shmlane_open_options_t {
        ready_timeout_ns: 2_000_000_000,
        expect_kind: 0,
        allow_other_owner: 0,
        allow_shared_mode: 0,
    }
}

/// The Rust options of C open options.
fn open_options(options: &shmlane_open_options_t) -> Result<OpenOptions, Failure> {
    let mut open_options = OpenOptions::new()
        .ready_timeout(Duration::from_nanos(options.ready_timeout_ns))
        .allow_other_owner(options.allow_other_owner != 0)
        .allow_shared_mode(options.allow_shared_mode != 0);
    if options.expect_kind != 0 {
        let kind = Kind::from_code(options.expect_kind).ok_or_else(|| {
            Failure::invalid(format!("unknown ring kind {}", options.expect_kind))
        })?;
        open_options = open_options.expect_kind(kind);
    }
    Ok(open_options)
}

/// Hands a new ring handle to C.
fn give(ring: Ring, out: &mut *mut shmlane_ring_t) {
    *out = Box::into_raw(Box::new(shmlane_ring_t { ring }));
}

/// Creates the ring `/dev/shm/<name>` and opens it.
///
/// On success `*out` is a new handle; free it with `shmlane_ring_close`.
/// Thread-safe.
///
/// # Safety
/// `name` is a NUL-terminated string; `options` points to options; `out` is
/// valid for writing a pointer. (NULL for any of them returns
/// `SHMLANE_STATUS_INVALID_ARGUMENT`.)
#[no_mangle]
pub unsafe extern "C" fn shmlane_ring_create(
    name: *const c_char,
    options: *const shmlane_ring_options_t,
    out: *mut *mut shmlane_ring_t,
) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        let (name, options, out) = unsafe {
            (
                text_arg(name, "name")?,
                in_arg(options, "options")?,
                out_arg(out, "out")?,
            )
        };
        give(Ring::create(name, &ring_options(options)?)?, out);
        Ok(())
    })
}

/// Creates a ring in the file at `path` (which must not exist) and opens it.
///
/// As `shmlane_ring_create`, with a path instead of a name.
///
/// # Safety
/// As `shmlane_ring_create`.
#[no_mangle]
pub unsafe extern "C" fn shmlane_ring_create_at(
    path: *const c_char,
    options: *const shmlane_ring_options_t,
    out: *mut *mut shmlane_ring_t,
) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        let (path, options, out) = unsafe {
            (
                path_arg(path, "path")?,
                in_arg(options, "options")?,
                out_arg(out, "out")?,
            )
        };
        give(Ring::create(path, &ring_options(options)?)?, out);
        Ok(())
    })
}

/// Opens the ring `/dev/shm/<name>` with the default options, validating its
/// header. On success `*out` is a new handle; free it with `shmlane_ring_close`.
/// Thread-safe.
///
/// # Safety
/// `name` is a NUL-terminated string; `out` is valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn shmlane_ring_open(
    name: *const c_char,
    out: *mut *mut shmlane_ring_t,
) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        let (name, out) = unsafe { (text_arg(name, "name")?, out_arg(out, "out")?) };
        give(Ring::open(name)?, out);
        Ok(())
    })
}

/// Opens the ring in the file at `path` with the default options.
///
/// # Safety
/// As `shmlane_ring_open`.
#[no_mangle]
pub unsafe extern "C" fn shmlane_ring_open_at(
    path: *const c_char,
    out: *mut *mut shmlane_ring_t,
) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        let (path, out) = unsafe { (path_arg(path, "path")?, out_arg(out, "out")?) };
        give(Ring::open(path)?, out);
        Ok(())
    })
}

/// Opens a ring with options. Exactly one of `name` (a `/dev/shm` name) and
/// `path` (a file path) is non-NULL.
///
/// # Safety
/// `name` and `path` are NULL or NUL-terminated strings; `options` points to
/// options; `out` is valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn shmlane_ring_open_with(
    name: *const c_char,
    path: *const c_char,
    options: *const shmlane_open_options_t,
    out: *mut *mut shmlane_ring_t,
) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        let (options, out) = unsafe { (in_arg(options, "options")?, out_arg(out, "out")?) };
        let options = open_options(options)?;
        let ring = match (name.is_null(), path.is_null()) {
            // SAFETY: non-null, NUL-terminated by the caller's contract.
            (false, true) => options.open(unsafe { text_arg(name, "name")? })?,
            // SAFETY: as above.
            (true, false) => options.open(unsafe { path_arg(path, "path")? })?,
            _ => {
                return Err(Failure::invalid(
                    "exactly one of name and path must be given",
                ))
            }
        };
        give(ring, out);
        Ok(())
    })
}

/// Closes a ring handle. Producers and consumers made from it stay valid. NULL
/// is ignored. Not thread-safe with other calls on the same handle.
///
/// # Safety
/// `ring` is NULL or a handle not yet closed; it is invalid afterwards.
#[no_mangle]
pub unsafe extern "C" fn shmlane_ring_close(ring: *mut shmlane_ring_t) {
    if !ring.is_null() {
        // Dropping a Ring only releases the mapping's reference count: it cannot panic
        // into C, but keep the guarantee uniform.
        let _ = std::panic::catch_unwind(|| {
            // SAFETY: made by `Box::into_raw` in `give`, and not closed before.
            drop(unsafe { Box::from_raw(ring) });
        });
    }
}

/// Unlinks the ring `/dev/shm/<name>`; open handles stay valid. Refuses a file
/// that is not a ring (`SHMLANE_STATUS_NOT_A_RING`). Thread-safe.
///
/// # Safety
/// `name` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn shmlane_ring_remove(name: *const c_char) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        shmlane::remove(unsafe { text_arg(name, "name")? })?;
        Ok(())
    })
}

/// Unlinks the ring file at `path`, as `shmlane_ring_remove`.
///
/// # Safety
/// `path` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn shmlane_ring_remove_at(path: *const c_char) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        shmlane::remove(unsafe { path_arg(path, "path")? })?;
        Ok(())
    })
}

/// Borrows the ring of a handle.
///
/// # Safety
/// `ring` is NULL or a live handle.
pub(crate) unsafe fn ring_arg<'a>(ring: *const shmlane_ring_t) -> Result<&'a Ring, Failure> {
    // SAFETY: the caller's contract above.
    Ok(&unsafe { in_arg(ring, "ring")? }.ring)
}

/// The kind of a ring: `SHMLANE_KIND_SPSC`, `SHMLANE_KIND_MPMC` or
/// `SHMLANE_KIND_BROADCAST`; 0 for NULL.
///
/// # Safety
/// `ring` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn shmlane_ring_kind(ring: *const shmlane_ring_t) -> u32 {
    // SAFETY: the caller's contract above.
    unsafe { ring.as_ref() }.map_or(0, |ring| ring.ring.kind().code())
}

/// The number of slots of a ring; 0 for NULL.
///
/// # Safety
/// `ring` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn shmlane_ring_capacity(ring: *const shmlane_ring_t) -> u64 {
    // SAFETY: the caller's contract above.
    unsafe { ring.as_ref() }.map_or(0, |ring| ring.ring.geometry().capacity)
}

/// The largest message of a ring, in bytes; 0 for NULL.
///
/// # Safety
/// `ring` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn shmlane_ring_max_payload(ring: *const shmlane_ring_t) -> usize {
    // SAFETY: the caller's contract above.
    unsafe { ring.as_ref() }.map_or(0, |ring| ring.ring.max_payload())
}

/// Flushes a file-backed ring's pages to storage (`msync(MS_SYNC)`), so that
/// committed messages survive power loss; pointless for `/dev/shm`.
///
/// # Safety
/// `ring` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn shmlane_ring_flush(ring: *const shmlane_ring_t) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        unsafe { ring_arg(ring)? }.flush()?;
        Ok(())
    })
}

/// One wait line's counters.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct shmlane_wait_info_t {
    /// Handles announced as waiting now.
    pub waiters: u32,
    /// Handles registered as sleepers.
    pub sleepers: u32,
    /// Futex waits so far.
    pub sleeps: u64,
    /// Futex wakes so far.
    pub wakes: u64,
}

impl From<WaitInfo> for shmlane_wait_info_t {
    fn from(info: WaitInfo) -> Self {
        shmlane_wait_info_t {
            waiters: info.waiters,
            sleepers: info.sleepers,
            sleeps: info.sleeps,
            wakes: info.wakes,
        }
    }
}

/// A snapshot of a ring's geometry, positions, participants and wait counters.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct shmlane_ring_info_t {
    /// `SHMLANE_KIND_SPSC`, `SHMLANE_KIND_MPMC` or `SHMLANE_KIND_BROADCAST`.
    pub kind: u32,
    /// Non-zero for a ring of fixed-size messages.
    pub fixed_size: u8,
    /// Layout version of the file.
    pub version_major: u16,
    /// Layout minor version of the file.
    pub version_minor: u16,
    /// Number of slots.
    pub capacity: u64,
    /// Bytes per slot, slot header included.
    pub slot_size: u64,
    /// Largest message.
    pub max_payload: u64,
    /// Size of the ring file's mapping.
    pub total_size: u64,
    /// Next position to read.
    pub head: u64,
    /// Next position to write.
    pub tail: u64,
    /// Messages published and not yet released (at most `capacity`).
    pub len: u64,
    /// Participant records in the ring.
    pub participant_count: u32,
    /// Live producers.
    pub producers_alive: u32,
    /// Live consumers.
    pub consumers_alive: u32,
    /// Records whose owner died without closing.
    pub participants_dead: u32,
    /// Process id of the creator.
    pub creator_pid: u32,
    /// Creation time, ns since the Unix epoch.
    pub created_ns: u64,
    /// Wait line 0, "data available": consumers sleep on it.
    pub data_waits: shmlane_wait_info_t,
    /// Wait line 1, "space available": producers sleep on it.
    pub space_waits: shmlane_wait_info_t,
    /// MPMC crash recovery: claims of producers that died before committing,
    /// dropped (never delivered).
    pub dropped_claims: u64,
    /// MPMC crash recovery: messages lost with consumers that died holding them.
    pub lost_messages: u64,
}

impl From<&RingInfo> for shmlane_ring_info_t {
    fn from(info: &RingInfo) -> Self {
        let alive = |role| {
            info.participants
                .iter()
                .filter(|p| p.role == Some(role) && p.state == ParticipantState::Alive)
                .count() as u32
        };
        let geometry = &info.geometry;
        shmlane_ring_info_t {
            kind: geometry.kind.code(),
            fixed_size: u8::from(geometry.fixed_size),
            version_major: info.version.0,
            version_minor: info.version.1,
            capacity: geometry.capacity,
            slot_size: geometry.slot_size,
            max_payload: geometry.max_payload,
            total_size: geometry.total_size,
            head: info.head,
            tail: info.tail,
            len: info.len(),
            participant_count: geometry.participant_count,
            producers_alive: alive(Role::Producer),
            consumers_alive: alive(Role::Consumer),
            participants_dead: info
                .participants
                .iter()
                .filter(|p| p.state == ParticipantState::Dead)
                .count() as u32,
            creator_pid: info.creator_pid,
            created_ns: info.created_ns,
            data_waits: info.data_waits.into(),
            space_waits: info.space_waits.into(),
            dropped_claims: info.dropped_claims,
            lost_messages: info.lost_messages,
        }
    }
}

/// Reads a snapshot of an open ring into `*info`. Thread-safe.
///
/// # Safety
/// `ring` is a live handle; `info` is valid for writing.
#[no_mangle]
pub unsafe extern "C" fn shmlane_ring_info(
    ring: *const shmlane_ring_t,
    info: *mut shmlane_ring_info_t,
) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        let (ring, info) = unsafe { (ring_arg(ring)?, out_arg(info, "info")?) };
        *info = (&ring.info()).into();
        Ok(())
    })
}

/// Reads a snapshot of the ring `/dev/shm/<name>` without joining it (or
/// opening it for writing). Thread-safe.
///
/// # Safety
/// `name` is a NUL-terminated string; `info` is valid for writing.
#[no_mangle]
pub unsafe extern "C" fn shmlane_info(
    name: *const c_char,
    info: *mut shmlane_ring_info_t,
) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        let (name, info) = unsafe { (text_arg(name, "name")?, out_arg(info, "info")?) };
        *info = (&shmlane::info(name)?).into();
        Ok(())
    })
}

/// As `shmlane_info`, for the ring file at `path`.
///
/// # Safety
/// `path` is a NUL-terminated string; `info` is valid for writing.
#[no_mangle]
pub unsafe extern "C" fn shmlane_info_at(
    path: *const c_char,
    info: *mut shmlane_ring_info_t,
) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        let (path, info) = unsafe { (path_arg(path, "path")?, out_arg(info, "info")?) };
        *info = (&shmlane::info(path)?).into();
        Ok(())
    })
}

/// Participant state: never claimed.
pub const SHMLANE_PARTICIPANT_FREE: u32 = 0;
/// Participant state: claimed, and its owner holds the record's lock.
pub const SHMLANE_PARTICIPANT_ALIVE: u32 = 1;
/// Participant state: claimed, but nobody holds the lock: the owner died.
pub const SHMLANE_PARTICIPANT_DEAD: u32 = 2;
/// Participant state: the owner closed its handle.
pub const SHMLANE_PARTICIPANT_CLOSED: u32 = 3;
/// Participant role: none yet (a free record).
pub const SHMLANE_ROLE_NONE: u32 = 0;
/// Participant role: producer.
pub const SHMLANE_ROLE_PRODUCER: u32 = 1;
/// Participant role: consumer.
pub const SHMLANE_ROLE_CONSUMER: u32 = 2;

/// One participant record of a ring.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct shmlane_participant_info_t {
    /// Index in the participant table.
    pub index: u32,
    /// `SHMLANE_ROLE_*` of the last owner.
    pub role: u32,
    /// `SHMLANE_PARTICIPANT_*`: liveness decided by the record's lock.
    pub state: u32,
    /// Process id of the last owner (informational: pids are reused).
    pub pid: u32,
    /// How many times the record has been claimed.
    pub generation: u32,
    /// When the last owner joined, ns since the Unix epoch.
    pub joined_ns: u64,
}

impl From<&ParticipantInfo> for shmlane_participant_info_t {
    fn from(info: &ParticipantInfo) -> Self {
        shmlane_participant_info_t {
            index: info.index,
            role: match info.role {
                None => SHMLANE_ROLE_NONE,
                Some(Role::Producer) => SHMLANE_ROLE_PRODUCER,
                Some(Role::Consumer) => SHMLANE_ROLE_CONSUMER,
            },
            state: match info.state {
                ParticipantState::Free => SHMLANE_PARTICIPANT_FREE,
                ParticipantState::Alive => SHMLANE_PARTICIPANT_ALIVE,
                ParticipantState::Dead => SHMLANE_PARTICIPANT_DEAD,
                ParticipantState::Closed => SHMLANE_PARTICIPANT_CLOSED,
            },
            pid: info.pid,
            generation: info.generation,
            joined_ns: info.joined_ns,
        }
    }
}

/// Reads the participant records of an open ring: up to `capacity` of them
/// into `records` (which may be NULL when `capacity` is 0); `*count` receives
/// the ring's record count, which may exceed `capacity`. Thread-safe.
///
/// # Safety
/// `ring` is a live handle; `records` is valid for writing `capacity`
/// records; `count` is valid for writing.
#[no_mangle]
pub unsafe extern "C" fn shmlane_ring_participants(
    ring: *const shmlane_ring_t,
    records: *mut shmlane_participant_info_t,
    capacity: usize,
    count: *mut usize,
) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        let (ring, count) = unsafe { (ring_arg(ring)?, out_arg(count, "count")?) };
        if records.is_null() && capacity > 0 {
            return Err(Failure::invalid("records is NULL"));
        }
        let info = ring.info();
        for (index, participant) in info.participants.iter().take(capacity).enumerate() {
            // SAFETY: `index < capacity`, within what the caller made writable.
            unsafe { records.add(index).write(participant.into()) };
        }
        *count = info.participants.len();
        Ok(())
    })
}
