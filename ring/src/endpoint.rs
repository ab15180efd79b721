//! `Endpoint`: the half of every handle that does not depend on the ring kind.
//!
//! A producer and a consumer of any kind hold the same things besides their
//! kind's state: the attachment to the ring, the participant record whose lock
//! proves them alive, the waker of the line their publishes feed and the
//! sleeper of the line they wait on. Joining builds them in that order; leaving
//! (on `Drop`) undoes it, unless the handle must leave as a dead process would.

use crate::attached::Attached;
use crate::error::{Error, Role};
use crate::layout::Kind;
use crate::participants::Membership;
use crate::shm::Shared;
use crate::sync::Arc;
use crate::wait::{Line, Sleeper, WaitStrategy, Waker};

/// The kind-independent half of a handle.
pub(crate) struct Endpoint {
    pub(crate) ring: Attached,
    pub(crate) membership: Membership,
    /// Wakes the other role's sleepers after each publish or release.
    pub(crate) waker: Waker,
    /// Sleeps in blocking calls on the line the other role feeds.
    pub(crate) sleeper: Sleeper,
}

impl Endpoint {
    /// Attaches to `shared` (of `kind`, or any for `None`) and claims a
    /// record for `role` with `claim_record`.
    pub(crate) fn join(
        shared: &Arc<Shared>,
        kind: Option<Kind>,
        role: Role,
        claim_record: impl FnOnce(&Arc<Shared>) -> Result<Membership, Error>,
    ) -> Result<Endpoint, Error> {
        let ring = Attached::new(Arc::clone(shared), kind)?;
        let membership = claim_record(&ring.shared)?;
        let record = membership.record();
        let (feeds, waits_on) = match role {
            Role::Producer => (Line::Data, Line::Space),
            Role::Consumer => (Line::Space, Line::Data),
        };
        let region = &ring.shared.region;
        Ok(Endpoint {
            waker: Waker::new(region, feeds, record),
            sleeper: Sleeper::new(region, waits_on, record),
            membership,
            ring,
        })
    }

    /// The participant record this handle holds.
    #[inline]
    pub(crate) fn record(&self) -> u32 {
        self.membership.record()
    }

    /// Wakes the other role's sleepers after a publish or release, if any sleep.
    #[inline(always)]
    pub(crate) fn notify(&mut self) {
        self.waker.notify(&self.ring.shared);
    }

    /// Whether the handle must leave without touching the mapping, as a dead
    /// process would: its file was truncated ([`Attached::left_for_dead`]),
    /// or (in a loom model) the handle died.
    pub(crate) fn left_for_dead(&self) -> bool {
        !self.membership.holds_record() || self.ring.left_for_dead()
    }

    pub(crate) fn wait_strategy(&self) -> WaitStrategy {
        self.sleeper.strategy()
    }

    pub(crate) fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.sleeper.set_strategy(strategy);
    }

    /// The loom models' death: the handle stops where it is, holding what it
    /// claimed, and its record's lock is released as the kernel would.
    #[cfg(loom)]
    pub(crate) fn die(&mut self) {
        self.membership.die();
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        if self.left_for_dead() {
            return;
        }
        self.sleeper.deregister();
        self.membership.leave(&self.ring.shared.region);
        // Peers asleep on us (an empty or full ring) wake to find us gone,
        // and peers of our own role that took us, half-way out, for a
        // newcomer look again.
        self.waker.wake_on_leave(&self.ring.shared);
        self.sleeper.wake_peers_on_leave(&self.ring.shared);
    }
}
