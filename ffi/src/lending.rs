//! What a producer or consumer handle of the C API is: a Rust handle of a ring
//! of any kind, and the guard of what it lent to C.
//!
//! A C caller cannot hold a Rust borrow, so the C handle keeps the Rust guard
//! of the slot, message or batch it lent next to the Rust handle the guard
//! borrows. The Rust handle lives in its own heap allocation, reached through a
//! raw pointer; while a guard is kept, the C handle reaches the Rust handle
//! only through that guard, and the guard is dropped before the Rust handle is
//! freed. That is what the `'static` lifetimes of the guards stand for.

use std::ptr::NonNull;

use shmlane::{AnyConsumer, AnyProducer, Error, Ring, WaitStrategy};

use crate::status::{shmlane_status, Failure};
use crate::wait::shmlane_wait_strategy_t;
use crate::{in_arg, out_arg};

/// What the producer and consumer handles have in common.
pub(crate) trait Joined: Sized + 'static {
    /// What the handle is called in messages: "producer" or "consumer".
    const ROLE: &'static str;
    fn join(ring: &Ring) -> Result<Self, Error>;
    fn set_wait_strategy(&mut self, strategy: WaitStrategy);
    fn wait_strategy(&self) -> WaitStrategy;
    fn is_disconnected(&mut self) -> bool;
}

impl Joined for AnyProducer {
    const ROLE: &'static str = "producer";
    fn join(ring: &Ring) -> Result<Self, Error> {
        AnyProducer::join(ring)
    }
    fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        AnyProducer::set_wait_strategy(self, strategy)
    }
    fn wait_strategy(&self) -> WaitStrategy {
        AnyProducer::wait_strategy(self)
    }
    fn is_disconnected(&mut self) -> bool {
        AnyProducer::is_disconnected(self)
    }
}

impl Joined for AnyConsumer {
    const ROLE: &'static str = "consumer";
    fn join(ring: &Ring) -> Result<Self, Error> {
        AnyConsumer::join(ring)
    }
    fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        AnyConsumer::set_wait_strategy(self, strategy)
    }
    fn wait_strategy(&self) -> WaitStrategy {
        AnyConsumer::wait_strategy(self)
    }
    fn is_disconnected(&mut self) -> bool {
        AnyConsumer::is_disconnected(self)
    }
}

/// A Rust handle `H` and the guard `L` of what it lent to C, if anything.
pub(crate) struct Lender<H: Joined, L> {
    /// Declared first: dropped before `handle`, which it may borrow.
    pub(crate) lent: Option<L>,
    handle: NonNull<H>,
    pub(crate) max_payload: usize,
    pub(crate) capacity: usize,
}

impl<H: Joined, L> Drop for Lender<H, L> {
    fn drop(&mut self) {
        // A reserved slot is given up, a borrowed message released.
        self.lent = None;
        // SAFETY: made by `Box::leak` in `Lender::join`; no guard borrows it
        // any more, and it is freed once, here.
        drop(unsafe { Box::from_raw(self.handle.as_ptr()) });
    }
}

impl<H: Joined, L> Lender<H, L> {
    /// Joins `ring` as `H`.
    pub(crate) fn join(ring: &Ring) -> Result<Lender<H, L>, Error> {
        let handle = H::join(ring)?;
        Ok(Lender {
            lent: None,
            handle: NonNull::from(Box::leak(Box::new(handle))),
            max_payload: ring.max_payload(),
            capacity: ring.geometry().capacity as usize,
        })
    }

    /// Whether nothing is lent.
    #[inline(always)]
    pub(crate) fn is_idle(&self) -> bool {
        self.lent.is_none()
    }

    /// The Rust handle, to lend from, once the caller checked [`Lender::is_idle`].
    ///
    /// # Safety
    /// Nothing is lent.
    #[inline(always)]
    pub(crate) unsafe fn handle_unchecked(&mut self) -> &'static mut H {
        debug_assert!(self.is_idle());
        // SAFETY: the allocation lives until `drop`, which first drops every
        // guard made from this reference; nothing is lent (the caller's
        // contract), so no guard reaches the handle meanwhile.
        unsafe { &mut *self.handle.as_ptr() }
    }

    /// The Rust handle, if nothing is lent (a guard would borrow it).
    #[inline]
    pub(crate) fn idle(&mut self) -> Result<&'static mut H, Failure> {
        if !self.is_idle() {
            return Err(busy::<H>());
        }
        // SAFETY: nothing is lent, checked above.
        Ok(unsafe { self.handle_unchecked() })
    }

    /// Keeps `guard` as what is lent. Nothing was lent before (the caller
    /// checked), so nothing needs a drop.
    #[inline(always)]
    pub(crate) fn lend(&mut self, guard: L) {
        let previous = self.lent.replace(guard);
        debug_assert!(previous.is_none());
        std::mem::forget(previous);
    }
}

#[cold]
pub(crate) fn busy<H: Joined>() -> Failure {
    Failure::new(
        shmlane_status::Busy,
        format!(
            "the {} lends a slot, a message or a batch: commit, abort or release it first",
            H::ROLE
        ),
    )
}

#[cold]
pub(crate) fn nothing_lent(what: &str) -> Failure {
    Failure::new(
        shmlane_status::NothingPending,
        format!("{what}: nothing is reserved or borrowed"),
    )
}

/// The entry points that producers and consumers share, over a C handle
/// pointer; the `shmlane_producer_*` and `shmlane_consumer_*` functions call these.
pub(crate) mod shared {
    use super::*;

    /// Joins `ring` and writes the new handle to `out`.
    ///
    /// # Safety
    /// `ring` is a live ring handle; `out` is valid for writing a pointer.
    pub(crate) unsafe fn open<T>(
        ring: *const crate::shmlane_ring_t,
        out: *mut *mut T,
        wrap: impl FnOnce(&Ring) -> Result<T, Error>,
    ) -> Result<(), Failure> {
        // SAFETY: the caller's contract above.
        let (ring, out) = unsafe { (crate::ring::ring_arg(ring)?, out_arg(out, "out")?) };
        *out = Box::into_raw(Box::new(wrap(ring)?));
        Ok(())
    }

    /// Frees a handle made by `open`; NULL is ignored.
    ///
    /// # Safety
    /// `handle` is NULL or a live handle made by `open`; it is invalid afterwards.
    pub(crate) unsafe fn close<T>(handle: *mut T) {
        if !handle.is_null() {
            // The handle is gone either way: a panic while it drops leaves
            // nothing behind that C could observe.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                // SAFETY: made by `Box::into_raw` in `open`, not closed before.
                drop(unsafe { Box::from_raw(handle) });
            }));
        }
    }

    /// # Safety
    /// The pointer argument is NULL or valid as the entry point says.
    pub(crate) unsafe fn set_wait_strategy<H: Joined, L>(
        lender: &mut Lender<H, L>,
        strategy: *const shmlane_wait_strategy_t,
    ) -> Result<(), Failure> {
        // SAFETY: the caller's contract: a strategy or NULL.
        let strategy = unsafe { in_arg(strategy, "strategy")? };
        lender
            .idle()?
            .set_wait_strategy(WaitStrategy::from(strategy));
        Ok(())
    }

    /// # Safety
    /// The pointer argument is NULL or valid as the entry point says.
    pub(crate) unsafe fn wait_strategy<H: Joined, L>(
        lender: &mut Lender<H, L>,
        strategy: *mut shmlane_wait_strategy_t,
    ) -> Result<(), Failure> {
        // SAFETY: the caller's contract: valid for writing, or NULL.
        let strategy = unsafe { out_arg(strategy, "strategy")? };
        *strategy = lender.idle()?.wait_strategy().into();
        Ok(())
    }

    /// # Safety
    /// The pointer argument is NULL or valid as the entry point says.
    pub(crate) unsafe fn is_disconnected<H: Joined, L>(
        lender: &mut Lender<H, L>,
        disconnected: *mut u8,
    ) -> Result<(), Failure> {
        // SAFETY: the caller's contract: valid for writing, or NULL.
        let disconnected = unsafe { out_arg(disconnected, "disconnected")? };
        *disconnected = u8::from(lender.idle()?.is_disconnected());
        Ok(())
    }
}
