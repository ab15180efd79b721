//! A ring's state, read without joining it: what `shmlane stat` shows.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Role};
use crate::layout::{self, owner_parts, Geometry, Kind};
use crate::platform::os;
use crate::region::Region;
use crate::shm::{self, Ring};
use crate::sync::{fence, Ordering};

/// A snapshot of a ring: geometry, positions and participants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingInfo {
    /// Path of the ring's file (`/proc/self/fd/<N>` for a ring reached through
    /// a descriptor, as [`Ring::path`]).
    pub path: PathBuf,
    /// The validated geometry (kind, capacity, slot size, ...).
    pub geometry: Geometry,
    /// Layout version of the file, `(major, minor)`.
    pub version: (u16, u16),
    /// Next position the consumer will read.
    pub head: u64,
    /// Next position the producer will write.
    pub tail: u64,
    /// Process id of the creator.
    pub creator_pid: u32,
    /// The uid that owns the ring's file (`None` if `fstat` failed).
    pub owner_uid: Option<u32>,
    /// The permission bits of the ring's file, as `0o600` (`None` if `fstat`
    /// failed).
    pub mode: Option<u32>,
    /// Creation time, nanoseconds since the Unix epoch.
    pub created_ns: u64,
    /// Every participant record of the table.
    pub participants: Vec<ParticipantInfo>,
    /// Wait line 0, "data available": consumers sleep on it, producers wake it.
    pub data_waits: WaitInfo,
    /// Wait line 1, "space available": producers sleep on it, consumers wake it.
    pub space_waits: WaitInfo,
    /// MPMC: positions claimed by producers that died before committing them,
    /// dropped by crash recovery (0 for SPSC).
    pub dropped_claims: u64,
    /// MPMC: committed messages lost with consumers that died holding them,
    /// released unread by crash recovery (0 for SPSC).
    pub lost_messages: u64,
    /// MPMC: positions between `head` and `tail` claimed by producers that
    /// died before committing them and not yet dropped by crash recovery (a
    /// consumer that reaches one drops it and counts it in `dropped_claims`),
    /// among the first 2^20 after `head`. They count in
    /// [`RingInfo::len`] but hold no message (0 for SPSC).
    pub dead_claims: u64,
}

/// What a wait line says: who waits on it and how often sleeping happened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WaitInfo {
    /// Handles announced as waiting right now.
    pub waiters: u32,
    /// Handles registered as sleepers (their wakers check for waiters after
    /// every publish).
    pub sleepers: u32,
    /// How many times a waiter went to sleep on the futex.
    pub sleeps: u64,
    /// How many times a waker called `FUTEX_WAKE`.
    pub wakes: u64,
}

impl RingInfo {
    /// Messages published and not yet released (bounded by the capacity even if
    /// shared memory holds impossible positions).
    pub fn len(&self) -> u64 {
        self.tail
            .wrapping_sub(self.head)
            .min(self.geometry.capacity)
    }

    /// Whether no message is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Positions between `head` and `tail` that hold or will hold a message:
    /// [`RingInfo::len`] without the [`RingInfo::dead_claims`].
    pub fn filled(&self) -> u64 {
        self.len().saturating_sub(self.dead_claims)
    }
}

/// What a participant record says, with liveness decided by its lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParticipantState {
    /// Never claimed.
    Free,
    /// Claimed, and its owner holds the record's lock.
    Alive,
    /// Claimed, but nobody holds the lock: the owner died.
    Dead,
    /// The owner closed its handle.
    Closed,
}

/// One participant record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParticipantInfo {
    /// Index in the participant table.
    pub index: u32,
    /// Role of the last owner, if the record was ever claimed.
    pub role: Option<Role>,
    /// State of the record.
    pub state: ParticipantState,
    /// Process id of the last owner (informational: pids are reused).
    pub pid: u32,
    /// How many times the record has been claimed.
    pub generation: u32,
    /// When the last owner joined, nanoseconds since the Unix epoch.
    pub joined_ns: u64,
    /// A broadcast subscriber's policy and position; `None` for every other
    /// record.
    pub subscriber: Option<SubscriberInfo>,
}

/// What a broadcast subscriber's record says of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubscriberInfo {
    /// Tethered (lossless: the producer waits for it) or untethered (lossy).
    pub tethered: bool,
    /// The next position it reads; the ring's `tail` minus this is how far it
    /// is behind the producer.
    pub cursor: u64,
    /// Messages it lost to the producer lapping it (untethered only; 0 for a
    /// tethered one, which loses nothing).
    pub lost: u64,
}

/// Reads the state of the ring at `at` (a name under `/dev/shm`, or a path)
/// without joining it: its figures, not its owner, so a foreign ring can be
/// inspected.
///
/// Reading changes nothing, so neither the file's owner nor its mode is
/// checked (joining, which writes, needs [`Ring::open`]'s checks); both are
/// reported, as [`RingInfo::owner_uid`] and [`RingInfo::mode`].
///
/// # Errors
/// As [`Ring::open`], except that a file of another owner or a shared mode is
/// read: [`ErrorKind::Permission`](crate::ErrorKind::Permission) only when the
/// operating system refuses to open it for reading.
///
/// # Examples
/// ```
/// # let name = format!("doc-info-{}", std::process::id());
/// let ring = shmlane::Ring::create(&name, &shmlane::RingOptions::spsc(16, 64))?;
/// let info = shmlane::info(&name)?;
/// assert_eq!(info.geometry.capacity, 16);
/// assert!(info.is_empty());
/// # shmlane::remove(&name)?;
/// # Ok::<(), shmlane::Error>(())
/// ```
pub fn info<'a>(at: impl Into<shm::Location<'a>>) -> Result<RingInfo, Error> {
    let path = &at
        .into()
        .file_path("a memfd ring is read through its handle (Ring::info)")?;
    let (file, region) = shm::open_read_only(path)?;
    Ok(snapshot(path, &file, &region))
}

impl Ring {
    /// Reads the ring's state, as [`info`] does.
    pub fn info(&self) -> RingInfo {
        snapshot(&self.shared.path, &self.shared.file, &self.shared.region)
    }
}

fn snapshot(path: &Path, file: &File, region: &Region) -> RingInfo {
    let geometry = *region.geometry();
    // The copy validated at open: a peer may have written over the header in
    // the mapping since, and header fields are never read from it again.
    let header = region.header();
    // Ordering: Relaxed; a snapshot needs no more than a recent value of each,
    // and `info_at` maps the ring read-only, where only Relaxed loads are
    // promised to work.
    let head = region.u64_at(layout::HEAD_OFFSET).load(Ordering::Relaxed);
    let tail = region.u64_at(layout::TAIL_OFFSET).load(Ordering::Relaxed);
    let participants: Vec<ParticipantInfo> = (0..geometry.participant_count)
        .map(|index| participant(file, region, index))
        .collect();
    let metadata = file.metadata().ok();
    let dead_claims = if geometry.kind == Kind::Mpmc {
        dead_claims(region, &participants, head, tail)
    } else {
        0
    };
    RingInfo {
        path: path.to_owned(),
        geometry,
        version: (header.version_major, header.version_minor),
        head,
        tail,
        creator_pid: header.creator_pid,
        owner_uid: metadata.as_ref().map(MetadataExt::uid),
        mode: metadata.as_ref().map(|metadata| metadata.mode() & 0o7777),
        created_ns: header.creation_time_ns,
        participants,
        data_waits: wait_line(region, layout::DATA_WAIT_LINE_OFFSET),
        space_waits: wait_line(region, layout::SPACE_WAIT_LINE_OFFSET),
        // Ordering: Relaxed; counters, read as a snapshot.
        dropped_claims: region
            .u64_at(layout::DROPPED_CLAIMS_OFFSET)
            .load(Ordering::Relaxed),
        lost_messages: region
            .u64_at(layout::LOST_MESSAGES_OFFSET)
            .load(Ordering::Relaxed),
        dead_claims,
    }
}

/// The most positions after `head` that [`dead_claims`] looks at: one stamp
/// load each, so that `stat` of a huge ring stays quick.
const DEAD_CLAIMS_SCANNED: u64 = 1 << 20;

/// How many positions in `head .. tail` of an MPMC ring (the first
/// [`DEAD_CLAIMS_SCANNED`] of them) are claimed but uncommitted (their stamp
/// is the position itself) without any live producer announcing a claim that
/// covers them: their owner died, whether its record still says so or a
/// newcomer took the record over since (`recovery` decides the same way).
/// Claim ranges come from shared memory and only decide what is counted.
fn dead_claims(region: &Region, participants: &[ParticipantInfo], head: u64, tail: u64) -> u64 {
    let geometry = region.geometry();
    let in_flight = tail.wrapping_sub(head);
    if in_flight == 0 || in_flight > geometry.capacity {
        return 0; // empty, or impossible positions: nothing to say
    }
    let live: Vec<(u64, u64)> = participants
        .iter()
        .filter(|p| p.role == Some(Role::Producer) && p.state == ParticipantState::Alive)
        .map(|p| {
            let record = geometry.record_offset(p.index);
            // Ordering: Relaxed; a snapshot, ordered before the stamp loads by
            // the fence below.
            let start = region
                .u64_at(record + layout::RECORD_CLAIM_START)
                .load(Ordering::Relaxed);
            let end = region
                .u64_at(record + layout::RECORD_CLAIM_END)
                .load(Ordering::Relaxed);
            (start, end)
        })
        .collect();
    // Ordering: Acquire fence (the mapping may be read-only), pairing with the
    // Release of the producers' claims and commits: a stamp we read is no older
    // than the claim ranges read above, so a live producer that moved its
    // range on past a position has committed it in what we see.
    fence(Ordering::Acquire);
    let slots = region.slot_table();
    (0..in_flight.min(DEAD_CLAIMS_SCANNED))
        .map(|offset| head.wrapping_add(offset))
        .filter(|&position| {
            // Ordering: Relaxed; a snapshot, after the fence above.
            slots.stamp(position).load(Ordering::Relaxed) == position
                && !live
                    .iter()
                    .any(|&(start, end)| start <= position && position < end)
        })
        .count() as u64
}

fn wait_line(region: &Region, offset: usize) -> WaitInfo {
    // Ordering: Relaxed; counters, read as a snapshot.
    WaitInfo {
        waiters: region
            .u32_at(offset + layout::WAIT_WAITERS)
            .load(Ordering::Relaxed),
        sleepers: region
            .u32_at(offset + layout::WAIT_SLEEPERS)
            .load(Ordering::Relaxed),
        sleeps: region
            .u64_at(offset + layout::WAIT_SLEEPS)
            .load(Ordering::Relaxed),
        wakes: region
            .u64_at(offset + layout::WAIT_WAKES)
            .load(Ordering::Relaxed),
    }
}

fn participant(file: &File, region: &Region, index: u32) -> ParticipantInfo {
    let record = region.geometry().record_offset(index);
    // Ordering: Relaxed, then an Acquire fence (the mapping may be read-only),
    // pairing with the Release of the claim in `participants`, which published
    // the pid and join time read below.
    let word = region
        .u64_at(record + layout::RECORD_OWNER)
        .load(Ordering::Relaxed);
    fence(Ordering::Acquire);
    let (generation, role, state) = owner_parts(word);
    let state = match state {
        layout::STATE_FREE => ParticipantState::Free,
        layout::STATE_ACTIVE => match os::record_locked_in(file, record) {
            Ok(false) => ParticipantState::Dead,
            _ => ParticipantState::Alive,
        },
        _ => ParticipantState::Closed,
    };
    let role = match role {
        layout::ROLE_PRODUCER => Some(Role::Producer),
        layout::ROLE_CONSUMER => Some(Role::Consumer),
        _ => None,
    };
    let subscriber = if region.geometry().kind == Kind::Broadcast && role == Some(Role::Consumer) {
        // Ordering: Relaxed; published by the owner word's Release, read
        // above (the cursor is a snapshot, as every position here).
        let tethered = match region
            .u32_at(record + layout::RECORD_SUBSCRIPTION)
            .load(Ordering::Relaxed)
        {
            layout::SUBSCRIPTION_TETHERED => Some(true),
            layout::SUBSCRIPTION_UNTETHERED => Some(false),
            _ => None,
        };
        tethered.map(|tethered| SubscriberInfo {
            tethered,
            cursor: region
                .u64_at(record + layout::RECORD_CURSOR)
                .load(Ordering::Relaxed),
            lost: region
                .u64_at(record + layout::RECORD_LOST)
                .load(Ordering::Relaxed),
        })
    } else {
        None
    };
    ParticipantInfo {
        index,
        role,
        state,
        // Ordering: Relaxed; published by the owner word's Release, read above.
        pid: region
            .u32_at(record + layout::RECORD_PID)
            .load(Ordering::Relaxed),
        generation,
        joined_ns: region
            .u64_at(record + layout::RECORD_JOINED_NS)
            .load(Ordering::Relaxed),
        subscriber,
    }
}
