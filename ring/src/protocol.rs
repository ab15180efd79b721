//! What a ring kind contributes to the one handle family: the sealed
//! [`Protocol`] trait and the two halves every kind implements.
//!
//! A kind implements only how a writer claims free slots and publishes them
//! ([`WriteSide`]) and how a reader claims published messages and releases
//! them ([`ReadSide`]); joining, leaving, waiting, lengths, guards and `Drop`
//! are written once over it. Implemented by [`crate::spsc::Spsc`],
//! [`crate::mpmc::Mpmc`], [`crate::broadcast::Broadcast`] and
//! [`crate::AnyKind`]. Each kind's steps: `docs/layout.md#spsc`,
//! `docs/layout.md#mpmc`, `docs/layout.md#broadcast`.

// The kind's halves are public types of a private module, reached only
// through the sealed `Protocol`; the crate types in their methods stay
// crate-private, which no caller outside can name or call.
#![allow(private_interfaces, private_bounds)]

use crate::attached::Attached;
use crate::error::Error;
use crate::layout::Kind;
use crate::participants::Membership;
use crate::shm::Shared;
use crate::sync::Arc;
use crate::wait::Waker;

pub(crate) mod sealed {
    /// Keeps [`super::Protocol`] implemented by this crate only.
    pub trait Sealed {}
}

/// A ring kind's protocol: the type parameter of [`crate::Producer`] and
/// [`crate::Consumer`]. Sealed: implemented by [`crate::spsc::Spsc`],
/// [`crate::mpmc::Mpmc`], [`crate::broadcast::Broadcast`] and
/// [`crate::AnyKind`].
pub trait Protocol: sealed::Sealed + Sized + 'static {
    /// The kind a ring must be to be joined with this protocol; `None` takes
    /// whatever kind the ring is.
    #[doc(hidden)]
    const KIND: Option<Kind>;
    /// A producer's own state.
    #[doc(hidden)]
    type Writer: WriteSide;
    /// A consumer's own state.
    #[doc(hidden)]
    type Reader: ReadSide;
}

/// A run of consecutive positions a handle owns by protocol: free slots a
/// writer claimed, or published messages a reader claimed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claim {
    /// The first position.
    pub(crate) position: u64,
    /// How many positions, at least 1 (at most the capacity).
    pub(crate) count: u64,
}

impl Claim {
    /// The position of the claim's slot `index` (`index < count`).
    #[inline(always)]
    pub(crate) fn at(self, index: u64) -> u64 {
        self.position.wrapping_add(index)
    }
}

/// What a handle's blocking waits need of its kind (see `wait::block_on`).
pub trait WaitHooks {
    /// Whether a look at the peers notices a peer's leaving at once (SPSC: the
    /// peer's owner word changes), rather than within its rate limit (MPMC:
    /// leaving does not move the join count its scans key on).
    fn watch_sees_leaving(&self) -> bool;
    /// Makes the next look at the peers test their locks, whatever the rate limit.
    fn look_at_peers_now(&mut self);
    /// Makes the next attempt look at once for a dead owner of the slot it is
    /// blocked by, whatever the grace period: after a nap that ran out (a dead
    /// peer wakes nobody), or a wake that left the handle blocked. Only a kind
    /// that recovers after dead owners does anything.
    fn look_for_dead_owners_now(&mut self) {}
    /// A cheap hint, one load of the peer's position word: `false` when an
    /// attempt would surely find the ring as full or empty as before.
    fn may_be_ready(&self, _ring: &Attached) -> bool {
        true
    }
    /// Whether the peers have all closed or died, as of a fresh look at their locks.
    fn peers_gone(&mut self, ring: &Attached) -> bool;
}

/// What both halves of a kind have: joining, waiting, leaving.
pub trait Side: WaitHooks + Sized + std::fmt::Debug {
    /// Claims the participant record a handle of this half plays in.
    fn claim_record(shared: &Arc<Shared>) -> Result<Membership, Error>;
    /// The state of a handle that holds `record`, read from the ring.
    fn new(ring: &Attached, record: u32) -> Result<Self, Error>;
    /// What a handle leaving (dropped, not dead) does before it gives its
    /// record up, with `waker` to wake the other role for what it frees.
    fn leave(&mut self, _ring: &Attached, _waker: &mut Waker) {}
}

/// A kind's producer half.
pub trait WriteSide: Side {
    /// Claims up to `wanted` (at least 1) consecutive free slots; `None` when
    /// the ring is full.
    ///
    /// # Errors
    /// [`Error::DISCONNECTED`] when the ring is full and every consumer is
    /// gone; a corrupt-ring error for impossible positions or stamps.
    fn claim(&mut self, ring: &Attached, wanted: u64) -> Result<Option<Claim>, Error>;
    /// Publishes the first `committed` slots of `claim` and gives the rest up
    /// unpublished (a kind where others may already have claimed the slots
    /// after them hands them on marked to be skipped). Returns whether
    /// anything was stored that consumers must be woken for.
    fn publish(&mut self, ring: &Attached, claim: Claim, committed: u64) -> bool;
}

/// A kind's consumer half.
pub trait ReadSide: Side {
    /// Claims up to `wanted` (at least 1) consecutive published messages;
    /// `None` when there is none. Slots that hold nothing to read (skipped)
    /// are released on the way, waking producers through `waker`.
    ///
    /// # Errors
    /// [`Error::DISCONNECTED`] when the ring is drained and every producer is
    /// gone; a corrupt-ring error for impossible positions or stamps.
    fn claim(
        &mut self,
        ring: &Attached,
        waker: &mut Waker,
        wanted: u64,
    ) -> Result<Option<Claim>, Error>;
    /// Frees the slots of `claim` for the producers. The caller wakes them.
    fn release(&mut self, ring: &Attached, claim: Claim);
    /// Keeps `claim` for the next claim, unread (a buffer was too small, or a
    /// batch ended before a message with an impossible length).
    fn hold(&mut self, claim: Claim);
}

/// Declares a kind's marker type, its [`Protocol`] and the aliases of the
/// handle family for it (`Producer`, `Consumer`, and the guards), so that
/// call sites name `spsc::Producer` rather than `Producer<Spsc>`.
macro_rules! kind {
    ($(#[$doc:meta])* $marker:ident, $kind:expr, $name:literal, $writer:ty, $reader:ty) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub enum $marker {}

        impl $crate::protocol::sealed::Sealed for $marker {}

        impl $crate::protocol::Protocol for $marker {
            const KIND: Option<$crate::layout::Kind> = $kind;
            type Writer = $writer;
            type Reader = $reader;
        }

        #[doc = concat!("The writing end of ", $name, ".")]
        pub type Producer = $crate::Producer<$marker>;
        #[doc = concat!("The reading end of ", $name, ".")]
        pub type Consumer = $crate::Consumer<$marker>;
        #[doc = concat!("A reserved slot of ", $name, ".")]
        pub type WriteSlot<'a> = $crate::WriteSlot<'a, $marker>;
        #[doc = concat!("Reserved slots of ", $name, ".")]
        pub type WriteBatch<'a> = $crate::WriteBatch<'a, $marker>;
        #[doc = concat!("A message of ", $name, ", borrowed in place.")]
        pub type ReadSlot<'a> = $crate::ReadSlot<'a, $marker>;
        #[doc = concat!("Messages of ", $name, ", borrowed in place.")]
        pub type ReadBatch<'a> = $crate::ReadBatch<'a, $marker>;
    };
}
pub(crate) use kind;
