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
//! Layers, from the bytes up (each module uses only those above it in this list):
//!
//! - [`layout`]: the byte layout of the mapping; `sync`: std or loom atomics;
//!   `error`: the failures.
//! - `region` (the mapping), `shm` (files: create, open, remove), `memfd`
//!   (sealed rings and rings reached through a descriptor), `info` (reading a
//!   ring without joining it).
//! - `participants` (records and liveness), `wait` (blocking waits on a
//!   futex), `recovery` (MPMC crash recovery).
//! - `attached` (what a handle copies out of the ring), `protocol` (the sealed
//!   trait a kind implements), `endpoint` (the kind-independent half of a
//!   handle).
//! - The kinds: [`spsc`], [`mpmc`], and [`AnyKind`] for a kind known at run time.
//! - The handle family, generic over the kind: [`Handle`] (joining, waiting,
//!   leaving, for both directions), [`Producer`] with [`WriteSlot`] and
//!   [`WriteBatch`], [`Consumer`] with [`ReadSlot`] and [`ReadBatch`].

mod any;
mod attached;
mod consumer;
mod endpoint;
mod error;
mod handle;
pub mod layout;
#[cfg(not(loom))]
mod memfd;
pub mod mpmc;
mod participants;
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
pub use layout::{Geometry, Kind};
pub use shm::Ring;

#[cfg(not(loom))]
pub use info::{info, ParticipantInfo, ParticipantState, RingInfo, WaitInfo};
#[cfg(not(loom))]
pub use shm::{path_for, remove, Location, OpenOptions, RingOptions, MAX_NAME_LEN, SHM_DIR};
