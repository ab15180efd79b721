//! The platform modelled for loom: a lock table in the model stands in for the
//! kernel's OFD locks, one mutex and condition variable per ring for the futex,
//! and there is no clock.

use std::time::Duration;

use super::Platform;
use crate::error::Error;
use crate::shm::Shared;
use crate::sync::{Arc, AtomicU32, Ordering};

/// loom beneath the ring.
pub(crate) enum Model {}

/// The model's instant: there is no clock.
#[derive(Clone, Copy)]
pub(crate) struct NoClock;

/// A record's lock in the model's table (`Shared::record_locks`, bit `index`);
/// dropping it releases the record, as the kernel does at a process's death.
pub(crate) struct ModelLock {
    shared: Arc<Shared>,
    index: u32,
}

impl Drop for ModelLock {
    fn drop(&mut self) {
        // Ordering: SeqCst, with every other use of the table: the kernel's
        // lock table is one total order.
        self.shared
            .record_locks
            .fetch_and(!(1 << self.index), loom::sync::atomic::Ordering::SeqCst);
    }
}

impl Platform for Model {
    type RecordLock = ModelLock;
    type Instant = NoClock;
    /// Every sighting looks at the (absent) clock.
    const SIGHTINGS_PER_CLOCK_READ: u32 = 1;

    fn lock_first_free(
        shared: &Arc<Shared>,
        indices: std::ops::Range<u32>,
    ) -> Result<Option<(u32, ModelLock)>, Error> {
        for index in indices {
            assert!(index < 64, "the loom models have at most 64 records");
            // Ordering: SeqCst, as in `ModelLock::drop`.
            let before = shared
                .record_locks
                .fetch_or(1 << index, loom::sync::atomic::Ordering::SeqCst);
            if before & (1 << index) == 0 {
                let lock = ModelLock {
                    shared: Arc::clone(shared),
                    index,
                };
                return Ok(Some((index, lock)));
            }
        }
        Ok(None)
    }

    fn record_locked(shared: &Shared, index: u32) -> bool {
        // Ordering: SeqCst, as in `ModelLock::drop`.
        index < 64
            && shared
                .record_locks
                .load(loom::sync::atomic::Ordering::SeqCst)
                & (1 << index)
                != 0
    }

    fn first_locked_record(shared: &Shared, from: u32) -> Option<u32> {
        let count = shared.region.geometry().participant_count.min(64);
        (from..count).find(|&index| Self::record_locked(shared, index))
    }

    /// The value check happens under the mutex and the waker notifies under it
    /// after its bump, which gives the kernel's guarantee: a sleeper either
    /// sees the bump or is asleep when the wake comes.
    fn futex_wait(
        shared: &Shared,
        word: &AtomicU32,
        expected: u32,
        _timeout: Duration,
        until_woken: bool,
    ) -> bool {
        if !until_woken {
            // A short timed nap: the model lets time pass by yielding.
            loom::thread::yield_now();
            return true;
        }
        // Timeouts that only bound liveness checks are left out, so a lost
        // wake-up shows as a deadlock.
        let guard = shared.futex_lock.lock().unwrap();
        // Ordering: Relaxed; the mutex orders it against the waker's bump.
        if word.load(Ordering::Relaxed) == expected {
            drop(shared.futex_wakes.wait(guard).unwrap());
        }
        false
    }

    fn futex_wake_all(shared: &Shared, _word: &AtomicU32) {
        let _guard = shared.futex_lock.lock().unwrap();
        shared.futex_wakes.notify_all();
    }

    /// Only the recovery models look into stalled positions: the others would
    /// grow with every scan of the records.
    fn recovery_enabled(shared: &Shared) -> bool {
        shared.recovery_enabled()
    }

    fn now() -> NoClock {
        NoClock
    }

    /// No clock: every grace has passed.
    fn passed(_since: NoClock, _now: NoClock, _grace: Duration) -> bool {
        true
    }
}
