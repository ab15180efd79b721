//! shmlane: lock-free ring buffers in shared memory, zero-copy, across processes
//! and languages.
//!
//! A ring lives in a file (`/dev/shm/<name>` or any path) that several processes
//! map. Writers reserve a slot in place and commit it; readers borrow a message in
//! place and release it. The byte layout (`docs/layout.md`) is shared with the C
//! library and the pure-Go package, so the two ends may be written in different
//! languages.
//!
//! ```
//! use shmlane::{spsc, Ring, RingOptions};
//!
//! # let name = format!("doc-lib-{}", std::process::id());
//! let ring = Ring::create(&name, &RingOptions::spsc(1024, 64))?;
//! let mut producer = spsc::Producer::join(&ring)?;
//! // In another process: `let ring = Ring::open(&name)?;`
//! let mut consumer = spsc::Consumer::join(&ring)?;
//!
//! let mut slot = producer.try_reserve()?.expect("room"); // zero-copy: write in place
//! slot[..4].copy_from_slice(&42u32.to_le_bytes());
//! slot.commit(4)?;
//!
//! let message = consumer.try_read()?.expect("a message"); // zero-copy: read in place
//! assert_eq!(&*message, &42u32.to_le_bytes());
//! drop(message); // releases the slot
//!
//! assert!(consumer.try_read()?.is_none()); // empty
//! shmlane::remove(&name)?;
//! # Ok::<(), shmlane::Error>(())
//! ```
//!
//! Layers, from the bytes up (each module uses only modules of the layers above
//! it in this list; there are no cycles):
//!
//! 1. `error` (the failures) and `sync` (std or loom atomics).
//! 2. [`layout`] (the byte layout of the mapping) and `memfd` (sealed memfds
//!    and descriptors).
//! 3. `region` (the mapping: mmap, or loom's heap), then `shm` (rings in
//!    files: create, open, remove).
//! 4. `platform` (the seam below the algorithms: record locks, futex, clock;
//!    the real one and loom's model) and `attached` (what a handle copies out
//!    of the ring).
//! 5. `wait` (blocking waits on a futex) and `info` (reading a ring without
//!    joining it), then `participants` (records and liveness); with the
//!    feature `tokio`, `async_wait` (the same waits as futures, through one
//!    driver thread per process).
//! 6. `recovery` (MPMC crash recovery), `protocol` (the sealed trait a kind
//!    implements) and `endpoint` (the kind-independent half of a handle).
//! 7. The kinds, [`spsc`] and [`mpmc`], and [`Handle`] (joining, waiting,
//!    leaving, for both directions).
//! 8. The handle family, generic over the kind: [`Producer`] with
//!    [`WriteSlot`] and [`WriteBatch`], [`Consumer`] with [`ReadSlot`] and
//!    [`ReadBatch`]; [`AnyKind`] for a kind known at run time; and the
//!    [`broadcast`] kind, whose subscribers join with a start position.

mod any;
#[cfg(all(feature = "tokio", not(loom)))]
mod async_wait;
mod attached;
pub mod broadcast;
mod consumer;
mod endpoint;
mod error;
mod handle;
pub mod layout;
#[cfg(not(loom))]
mod memfd;
pub mod mpmc;
mod participants;
mod platform;
mod producer;
mod protocol;
mod recovery;
mod region;
#[cfg_attr(loom, path = "shm_model.rs")]
mod shm;
pub mod spsc;
mod sync;
mod wait;

#[cfg(not(loom))]
mod info;

pub use any::{AnyConsumer, AnyKind, AnyProducer};
#[cfg(all(feature = "tokio", not(loom)))]
#[doc(hidden)]
pub use async_wait::driver_rounds;
pub use consumer::{Consumer, ReadBatch, ReadSlot};
pub use error::{Error, ErrorKind, Remedy, Role};
pub use handle::{Direction, Handle, Reading, Writing};
pub use producer::{Producer, WriteBatch, WriteSlot};
pub use protocol::Protocol;
pub use wait::WaitStrategy;

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExample;
pub use layout::{Geometry, Kind, Overflow};
pub use shm::Ring;

#[cfg(not(loom))]
pub use info::{info, ParticipantInfo, ParticipantState, RingInfo, SubscriberInfo, WaitInfo};
#[cfg(not(loom))]
pub use shm::{path_for, remove, Location, OpenOptions, RingOptions, MAX_NAME_LEN, SHM_DIR};
