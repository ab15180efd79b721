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
//! let mut slot = producer.try_reserve()?; // zero-copy: write in place
//! slot[..4].copy_from_slice(&42u32.to_le_bytes());
//! slot.commit(4)?;
//!
//! let message = consumer.try_read()?; // zero-copy: read in place
//! assert_eq!(&*message, &42u32.to_le_bytes());
//! drop(message); // releases the slot
//!
//! assert!(matches!(consumer.try_read(), Err(shmlane::Error::Empty)));
//! shmlane::remove(&name)?;
//! # Ok::<(), shmlane::Error>(())
//! ```
//!
//! Modules, one per concern: [`layout`] (the byte layout), `sync` (std or loom
//! atomics), `region` (the mapping), `shm` (files), `memfd` (sealed rings and
//! rings reached through a descriptor), `participants` (liveness),
//! [`spsc`] and [`mpmc`] (the algorithms), `recovery` (MPMC crash recovery),
//! `wait` (blocking waits on a futex), `info` (reading a ring without joining it).

mod error;
mod handle;
pub mod layout;
#[cfg(not(loom))]
mod memfd;
pub mod mpmc;
mod participants;
mod recovery;
mod region;
#[cfg_attr(loom, path = "shm_model.rs")]
mod shm;
pub mod spsc;
mod sync;
mod wait;

#[cfg(not(loom))]
mod info;

pub use error::{Error, Role};
pub use wait::WaitStrategy;

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExample;
pub use layout::{Geometry, Kind};
pub use shm::Ring;

#[cfg(not(loom))]
pub use info::{info, info_at, ParticipantInfo, ParticipantState, RingInfo, WaitInfo};
#[cfg(not(loom))]
pub use shm::{path_for, remove, remove_at, OpenOptions, RingOptions, MAX_NAME_LEN, SHM_DIR};
