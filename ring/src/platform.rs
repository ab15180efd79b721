//! The platform seam: what the ring's algorithms need from beneath them, as one
//! trait with two implementations.
//!
//! - [`Os`] (`platform/os.rs`), the real one: OFD locks on participant records
//!   prove a handle alive, the futex sleeps and wakes across processes, and the
//!   monotonic clock paces crash recovery.
//! - `Model` (`platform/model.rs`), built with `--cfg loom`: a lock table in
//!   the model stands in for the kernel's, a mutex and condition variable for
//!   the futex, and there is no clock (recovery looks at every sighting).
//!
//! [`Host`] names the one in use; the algorithm modules (`participants`,
//! `wait`, `recovery`) call `Host::...` and carry no `cfg(loom)` of their own.
//! The mapping itself (mmap or loom's heap) is `region`'s two backings.

use std::time::Duration;

use crate::error::Error;
use crate::shm::Shared;
use crate::sync::{Arc, AtomicU32};

#[cfg(loom)]
mod model;
#[cfg(not(loom))]
pub(crate) mod os;

#[cfg(loom)]
pub(crate) use model::Model as Host;
#[cfg(not(loom))]
pub(crate) use os::Os as Host;

/// The services below the algorithms. Every method takes the ring's [`Shared`]
/// state, which holds what the implementation needs (the file, or the model's
/// tables).
pub(crate) trait Platform {
    /// Held by a handle while it holds its participant record: the proof that
    /// it is alive. Dropping it releases the record, as a process's death does.
    type RecordLock;

    /// A point in time, for pacing recovery.
    type Instant: Copy;

    /// Sightings of one stalled position between two looks at the clock.
    const SIGHTINGS_PER_CLOCK_READ: u32;

    /// Takes the lock of the first record in `indices` that no other handle
    /// holds, or `None` when every one is held.
    ///
    /// # Errors
    /// [`ErrorKind::Permission`](crate::ErrorKind::Permission) or
    /// [`ErrorKind::Io`](crate::ErrorKind::Io) when locks cannot be taken.
    fn lock_first_free(
        shared: &Arc<Shared>,
        indices: std::ops::Range<u32>,
    ) -> Result<Option<(u32, Self::RecordLock)>, Error>;

    /// Whether some handle holds the lock of record `index`: whether its owner
    /// is alive. A failed test says "held": calling a live peer dead is the
    /// worse mistake.
    fn record_locked(shared: &Shared, index: u32) -> bool;

    /// The first record at or after `from` whose lock some handle holds.
    fn first_locked_record(shared: &Shared, from: u32) -> Option<u32>;

    /// Sleeps while `word` holds `expected`, for at most `timeout` (a model may
    /// leave out timeouts that only bound liveness checks, unless
    /// `until_woken` is false). `true` if the timeout ran out, or if the word
    /// is out of reach, so that the caller looks at the ring's file either way.
    fn futex_wait(
        shared: &Shared,
        word: &AtomicU32,
        expected: u32,
        timeout: Duration,
        until_woken: bool,
    ) -> bool;

    /// Wakes every sleeper on `word`, in any process.
    fn futex_wake_all(shared: &Shared, word: &AtomicU32);

    /// Whether handles of this ring look into stalled positions for dead
    /// owners (always, in production; only in the recovery models of loom).
    fn recovery_enabled(shared: &Shared) -> bool;

    /// Now.
    fn now() -> Self::Instant;

    /// Whether at least `grace` passed from `since` to `now`.
    fn passed(since: Self::Instant, now: Self::Instant, grace: Duration) -> bool;
}
