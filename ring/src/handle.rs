//! [`Handle`]: a producer or consumer of a ring of any kind, written once.
//!
//! A handle is its kind's state for its direction (a [`Protocol`]'s writer or
//! reader half) and the kind-independent [`Endpoint`]. Joining, leaving,
//! liveness, waiting, geometry, `Drop` and `Debug` are here, for both
//! directions and every kind; `producer.rs` and `consumer.rs` add what only
//! writing or only reading does.

use crate::endpoint::Endpoint;
use crate::error::{Error, Role};
use crate::protocol::{sealed, Protocol, Side, WaitHooks};
use crate::shm::Shared;
use crate::sync::Arc;
use crate::wait::{Blocking, Sleeper, WaitStrategy};

/// The direction of a [`Handle`]: [`Writing`] (a producer) or [`Reading`] (a
/// consumer). Sealed.
pub trait Direction: sealed::Sealed + 'static {
    /// The role a handle of this direction plays in the ring.
    #[doc(hidden)]
    const ROLE: Role;
    /// The kind's state for this direction.
    #[doc(hidden)]
    type Side<K: Protocol>: Side;
}

/// A producer's direction: [`crate::Producer`] is `Handle<K, Writing>`.
#[derive(Debug)]
pub enum Writing {}

/// A consumer's direction: [`crate::Consumer`] is `Handle<K, Reading>`.
#[derive(Debug)]
pub enum Reading {}

impl sealed::Sealed for Writing {}
impl sealed::Sealed for Reading {}

impl Direction for Writing {
    const ROLE: Role = Role::Producer;
    type Side<K: Protocol> = K::Writer;
}

impl Direction for Reading {
    const ROLE: Role = Role::Consumer;
    type Side<K: Protocol> = K::Reader;
}

/// A producer or consumer of a ring; named by its aliases [`crate::Producer`]
/// and [`crate::Consumer`] (and per kind [`crate::spsc::Producer`],
/// [`crate::mpmc::Consumer`], [`crate::AnyProducer`], ...).
///
/// `K` is the ring's kind ([`crate::spsc::Spsc`], [`crate::mpmc::Mpmc`], or
/// [`crate::AnyKind`] for a kind known at run time), `D` the direction.
/// `Send` but not `Sync`: methods take `&mut self`, so one lent slot or
/// message at a time.
pub struct Handle<K: Protocol, D: Direction> {
    pub(crate) side: D::Side<K>,
    pub(crate) end: Endpoint,
}

// SAFETY: the raw pointers a handle keeps point into the region kept alive by
// its `Arc<Shared>`; all shared state is reached through atomics or through
// slots owned by protocol, so the handle may move to another thread.
unsafe impl<K: Protocol, D: Direction> Send for Handle<K, D> {}

impl<K: Protocol, D: Direction> Handle<K, D> {
    /// Joins `ring` as a producer (`Writing`) or consumer (`Reading`).
    ///
    /// On an SPSC ring whose previous producer (consumer) died, this one
    /// takes over where the dead one stopped: a message the dead producer had
    /// reserved but not committed is lost, one the dead consumer was reading
    /// is delivered again. Any number of producers and consumers may join an
    /// MPMC ring, up to its participant limit; each message goes to one
    /// consumer.
    ///
    /// # Errors
    /// [`ErrorKind::WrongKind`](crate::ErrorKind::WrongKind) on a ring of
    /// another kind than `K`;
    /// [`ErrorKind::RoleTaken`](crate::ErrorKind::RoleTaken) while another
    /// handle of the role lives on an SPSC ring;
    /// [`ErrorKind::TooManyParticipants`](crate::ErrorKind::TooManyParticipants)
    /// when every record of an MPMC ring is held;
    /// [`ErrorKind::Corrupt`](crate::ErrorKind::Corrupt) if the positions are
    /// inconsistent; [`ErrorKind::Truncated`](crate::ErrorKind::Truncated) if
    /// the ring's file was cut short; [`ErrorKind::Io`](crate::ErrorKind::Io)
    /// if the liveness lock cannot be taken.
    ///
    /// # Examples
    /// ```
    /// use shmlane::{spsc, ErrorKind, Ring, RingOptions};
    /// # let name = format!("doc-join-{}", std::process::id());
    /// let ring = Ring::create(&name, &RingOptions::spsc(8, 64))?;
    /// let producer = spsc::Producer::join(&ring)?;
    /// // One producer at a time on an SPSC ring.
    /// let second = spsc::Producer::join(&ring).unwrap_err();
    /// assert_eq!(second.kind(), ErrorKind::RoleTaken);
    /// drop(producer);
    /// let _taken_over = spsc::Producer::join(&ring)?;
    /// # shmlane::remove(&name)?;
    /// # Ok::<(), shmlane::Error>(())
    /// ```
    pub fn join(ring: &crate::Ring) -> Result<Handle<K, D>, Error> {
        Handle::attach(&ring.shared)
    }

    pub(crate) fn attach(shared: &Arc<Shared>) -> Result<Handle<K, D>, Error> {
        let end = Endpoint::join(shared, K::KIND, D::ROLE, D::Side::<K>::claim_record)?;
        // On error the endpoint drops here and gives its record up again.
        let side = D::Side::<K>::new(&end.ring, end.record())?;
        Ok(Handle { side, end })
    }

    /// The loom models' way to kill a handle: it stops where it is, holding
    /// whatever it claimed, and its record's lock is released as the kernel
    /// would. Forget a guard (`std::mem::forget`) first to die holding it.
    #[cfg(loom)]
    pub fn die(mut self) {
        self.end.die();
    }

    /// Largest message this ring carries.
    pub fn max_payload(&self) -> usize {
        self.end.ring.max_payload
    }

    /// Number of slots in the ring.
    pub fn capacity(&self) -> usize {
        self.end.ring.capacity as usize
    }

    /// The ring's kind.
    pub fn kind(&self) -> crate::Kind {
        self.end.ring.shared.region.geometry().kind
    }

    /// How the blocking calls wait (the default is [`WaitStrategy::default`]).
    pub fn wait_strategy(&self) -> WaitStrategy {
        self.end.wait_strategy()
    }

    /// Sets how the blocking calls wait.
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.end.set_wait_strategy(strategy);
    }

    /// Whether every handle of the other role that ever joined has closed or
    /// died (as of a fresh look at their locks). A consumer may still find
    /// messages in the ring.
    pub fn is_disconnected(&mut self) -> bool {
        self.side.peers_gone(&self.end.ring)
    }
}

impl<K: Protocol, D: Direction> Blocking for Handle<K, D> {
    fn shared(&self) -> &Shared {
        &self.end.ring.shared
    }
    #[cfg(all(feature = "tokio", not(loom)))]
    fn shared_arc(&self) -> &Arc<Shared> {
        &self.end.ring.shared
    }
    fn sleeper(&self) -> &Sleeper {
        &self.end.sleeper
    }
    fn sleeper_mut(&mut self) -> &mut Sleeper {
        &mut self.end.sleeper
    }
    fn watch_sees_leaving(&self) -> bool {
        self.side.watch_sees_leaving()
    }
    fn look_at_peers_now(&mut self) {
        self.side.look_at_peers_now();
    }
    fn look_for_dead_owners_now(&mut self) {
        self.side.look_for_dead_owners_now();
    }
    #[inline]
    fn may_be_ready(&self) -> bool {
        self.side.may_be_ready(&self.end.ring)
    }
}

impl<K: Protocol, D: Direction> Drop for Handle<K, D> {
    fn drop(&mut self) {
        if !self.end.left_for_dead() {
            self.side.leave(&self.end.ring, &mut self.end.waker);
        }
        // The endpoint leaves next, as its own `Drop` says.
    }
}

impl<K: Protocol, D: Direction> std::fmt::Debug for Handle<K, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(match D::ROLE {
            Role::Producer => "Producer",
            Role::Consumer => "Consumer",
        })
        .field("kind", &self.kind())
        .field("record", &self.end.record())
        .field("state", &self.side)
        .finish_non_exhaustive()
    }
}
