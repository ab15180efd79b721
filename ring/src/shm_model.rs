//! The loom build's stand-in for the file layer: a ring on the heap.
//!
//! Built with `--cfg loom` in place of `shm.rs`. The algorithm modules see the
//! same `Shared`, whose region is loom's heap model; there is no file, so there
//! are no locks, and liveness is the owner word alone.

use crate::error::Error;
use crate::layout::{Geometry, Kind};
use crate::region::Region;
use crate::spsc;
use crate::sync::Arc;

/// What the handles share: here only the heap region.
pub(crate) struct Shared {
    pub(crate) region: Region,
    /// The futex model of `wait`: sleepers wait on the condition variable.
    pub(crate) futex_lock: loom::sync::Mutex<()>,
    pub(crate) futex_wakes: loom::sync::Condvar,
}

impl Shared {
    fn on_heap(geometry: Geometry) -> Shared {
        Shared {
            region: Region::on_heap(geometry),
            futex_lock: loom::sync::Mutex::new(()),
            futex_wakes: loom::sync::Condvar::new(),
        }
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
    /// [`Error::BadGeometry`] as [`Geometry::new`].
    pub fn spsc_on_heap(capacity: u64, slot_size: u64, fixed_size: bool) -> Result<Ring, Error> {
        let geometry = Geometry::new(Kind::Spsc, capacity, slot_size, 2, fixed_size)?;
        Ok(Ring {
            shared: Arc::new(Shared::on_heap(geometry)),
        })
    }

    /// A zeroed MPMC ring on the heap with room for `participants` handles.
    ///
    /// # Errors
    /// [`Error::BadGeometry`] as [`Geometry::new`].
    pub fn mpmc_on_heap(
        capacity: u64,
        slot_size: u64,
        participants: u32,
        fixed_size: bool,
    ) -> Result<Ring, Error> {
        let geometry = Geometry::new(Kind::Mpmc, capacity, slot_size, participants, fixed_size)?;
        Ok(Ring {
            shared: Arc::new(Shared::on_heap(geometry)),
        })
    }

    /// Joins as the producer.
    ///
    /// # Errors
    /// As `spsc::Producer::join`.
    pub fn producer(&self) -> Result<spsc::Producer, Error> {
        spsc::Producer::join(self)
    }

    /// Joins as the consumer.
    ///
    /// # Errors
    /// As `spsc::Consumer::join`.
    pub fn consumer(&self) -> Result<spsc::Consumer, Error> {
        spsc::Consumer::join(self)
    }
}
