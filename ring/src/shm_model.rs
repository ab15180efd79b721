//! The loom build's stand-in for the file layer: a ring on the heap.
//!
//! Built with `--cfg loom` in place of `shm.rs`. The algorithm modules see the
//! same `Shared`, whose region is loom's heap model; there is no file: the
//! participant locks are the model's table (`platform::Model`).

use crate::error::Error;
use crate::layout::{Geometry, Kind};
use crate::region::Region;
use crate::sync::Arc;

/// What the handles share: here only the heap region.
pub(crate) struct Shared {
    pub(crate) region: Region,
    /// The futex model of `wait`: sleepers wait on the condition variable.
    pub(crate) futex_lock: loom::sync::Mutex<()>,
    pub(crate) futex_wakes: loom::sync::Condvar,
    /// Whether handles look into stalled positions (the recovery models only:
    /// the other models would grow with every scan of the records).
    recovery: bool,
    /// The model of the kernel's lock table (`platform::Model`): bit `i` set
    /// while a handle holds the lock of record `i`.
    pub(crate) record_locks: loom::sync::atomic::AtomicU64,
}

impl Shared {
    fn on_heap(geometry: Geometry) -> Shared {
        Shared {
            region: Region::on_heap(geometry),
            futex_lock: loom::sync::Mutex::new(()),
            futex_wakes: loom::sync::Condvar::new(),
            recovery: false,
            record_locks: loom::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl Shared {
    pub(crate) fn recovery_enabled(&self) -> bool {
        self.recovery
    }

    /// The heap model has no file that could be truncated.
    pub(crate) fn check_size(&self) -> Result<(), Error> {
        Ok(())
    }
}

pub(crate) fn unix_time_ns() -> u64 {
    0
}

/// A heap-backed ring for loom models.
#[derive(Clone)]
pub struct Ring {
    pub(crate) shared: Arc<Shared>,
}

impl Ring {
    /// A zeroed SPSC ring of `capacity` slots of `slot_size` bytes on the heap,
    /// of fixed-size messages or not.
    ///
    /// # Errors
    /// [`ErrorKind::BadGeometry`](crate::ErrorKind::BadGeometry) as [`Geometry::new`].
    pub fn spsc_on_heap(capacity: u64, slot_size: u64, fixed_size: bool) -> Result<Ring, Error> {
        let geometry = Geometry::new(Kind::Spsc, capacity, slot_size, 2, fixed_size)?;
        Ok(Ring {
            shared: Arc::new(Shared::on_heap(geometry)),
        })
    }

    /// A zeroed broadcast ring on the heap for one producer and up to
    /// `max_subscribers` subscribers.
    ///
    /// # Errors
    /// [`ErrorKind::BadGeometry`](crate::ErrorKind::BadGeometry) as [`Geometry::new`].
    pub fn broadcast_on_heap(
        capacity: u64,
        slot_size: u64,
        max_subscribers: u32,
    ) -> Result<Ring, Error> {
        let geometry = Geometry::new(
            Kind::Broadcast,
            capacity,
            slot_size,
            max_subscribers + 1,
            false,
        )?;
        Ok(Ring {
            shared: Arc::new(Shared::on_heap(geometry)),
        })
    }

    /// A zeroed MPMC ring on the heap with room for `participants` handles.
    ///
    /// # Errors
    /// [`ErrorKind::BadGeometry`](crate::ErrorKind::BadGeometry) as [`Geometry::new`].
    pub fn mpmc_on_heap(
        capacity: u64,
        slot_size: u64,
        participants: u32,
        fixed_size: bool,
    ) -> Result<Ring, Error> {
        Ring::mpmc(capacity, slot_size, participants, fixed_size, false)
    }

    /// As [`Ring::mpmc_on_heap`], with crash recovery looked into at every
    /// sighting of a stalled position (the models of recovery).
    ///
    /// # Errors
    /// [`ErrorKind::BadGeometry`](crate::ErrorKind::BadGeometry) as [`Geometry::new`].
    pub fn mpmc_on_heap_with_recovery(
        capacity: u64,
        slot_size: u64,
        participants: u32,
        fixed_size: bool,
    ) -> Result<Ring, Error> {
        Ring::mpmc(capacity, slot_size, participants, fixed_size, true)
    }

    fn mpmc(
        capacity: u64,
        slot_size: u64,
        participants: u32,
        fixed_size: bool,
        recovery: bool,
    ) -> Result<Ring, Error> {
        let geometry = Geometry::new(Kind::Mpmc, capacity, slot_size, participants, fixed_size)?;
        let mut shared = Shared::on_heap(geometry);
        shared.recovery = recovery;
        Ok(Ring {
            shared: Arc::new(shared),
        })
    }

    /// The ring's recovery counters: claims dropped after their producer died,
    /// messages lost with their consumer.
    pub fn recovery_counts(&self) -> (u64, u64) {
        let region = &self.shared.region;
        // Ordering: SeqCst; read after the model's threads were joined.
        (
            region
                .u64_at(crate::layout::DROPPED_CLAIMS_OFFSET)
                .load(crate::sync::Ordering::SeqCst),
            region
                .u64_at(crate::layout::LOST_MESSAGES_OFFSET)
                .load(crate::sync::Ordering::SeqCst),
        )
    }
}
