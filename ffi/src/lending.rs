//! What a producer, consumer or subscriber handle of the C API is: a Rust
//! handle, and the guard of what it lent to C.
//!
//! A C caller cannot hold a Rust borrow, so the C handle keeps the Rust guard
//! of the slot, message or batch it lent next to the Rust handle the guard
//! borrows. The Rust handle lives in its own heap allocation, reached through a
//! raw pointer; while a guard is kept, the C handle reaches the Rust handle
//! only through that guard, and the guard is dropped before the Rust handle is
//! freed. That is what the `'static` lifetimes of the guards stand for.

use std::ptr::NonNull;

use shmlane::{AnyKind, Direction, Error, Handle, Protocol, Ring, WaitStrategy};

use crate::status::{error_status, shmlane_status, Failure};
use crate::wait::shmlane_wait_strategy_t;
use crate::{in_arg, out_arg};

/// A Rust handle of protocol `P` (a ring of any kind through [`AnyKind`],
/// or a broadcast ring) and direction `D`, and the guard `L` of what it lent
/// to C, if anything.
pub(crate) struct Lender<D: Direction, L, P: Protocol = AnyKind> {
    /// Declared first: dropped before `handle`, which it may borrow.
    pub(crate) lent: Option<L>,
    handle: NonNull<Handle<P, D>>,
    pub(crate) max_payload: usize,
    pub(crate) capacity: usize,
}

impl<D: Direction, L, P: Protocol> Drop for Lender<D, L, P> {
    fn drop(&mut self) {
        // A reserved slot is given up, a borrowed message released.
        self.lent = None;
        // SAFETY: made by `Box::leak` in `Lender::join`; no guard borrows it
        // any more, and it is freed once, here.
        drop(unsafe { Box::from_raw(self.handle.as_ptr()) });
    }
}

impl<D: Direction, L, P: Protocol> Lender<D, L, P> {
    /// Joins `ring` in direction `D`.
    pub(crate) fn join(ring: &Ring) -> Result<Lender<D, L, P>, Error> {
        Ok(Lender::new(ring, Handle::<P, D>::join(ring)?))
    }

    /// Lends from `handle`, a handle of `ring` joined by the caller.
    pub(crate) fn new(ring: &Ring, handle: Handle<P, D>) -> Lender<D, L, P> {
        Lender {
            lent: None,
            handle: NonNull::from(Box::leak(Box::new(handle))),
            max_payload: ring.max_payload(),
            capacity: ring.geometry().capacity as usize,
        }
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
    pub(crate) unsafe fn handle_unchecked(&mut self) -> &'static mut Handle<P, D> {
        debug_assert!(self.is_idle());
        // SAFETY: the allocation lives until `drop`, which first drops every
        // guard made from this reference; nothing is lent (the caller's
        // contract), so no guard reaches the handle meanwhile.
        unsafe { &mut *self.handle.as_ptr() }
    }

    /// The Rust handle, if nothing is lent (a guard would borrow it).
    #[inline]
    pub(crate) fn idle(&mut self) -> Result<&'static mut Handle<P, D>, Failure> {
        if !self.is_idle() {
            return Err(busy::<D>());
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

    /// The Rust handle if nothing is lent, else `BUSY`: for the per-message
    /// calls that lend nothing (the copying ones), in statuses.
    #[inline(always)]
    pub(crate) fn idle_or_busy(&mut self) -> Result<&'static mut Handle<P, D>, shmlane_status> {
        if !self.is_idle() {
            return Err(busy_status::<D>());
        }
        // SAFETY: nothing is lent, checked above.
        Ok(unsafe { self.handle_unchecked() })
    }

    /// The non-blocking lending call, in statuses (the per-message path):
    /// `BUSY` while something is lent, else what `get` finds lent through
    /// `lend`, `none` when it finds nothing.
    #[inline(always)]
    pub(crate) fn try_lend<T>(
        &mut self,
        get: impl FnOnce(&'static mut Handle<P, D>) -> Result<Option<T>, Error>,
        lend: impl FnOnce(&mut Self, T),
        none: shmlane_status,
    ) -> shmlane_status {
        if !self.is_idle() {
            return busy_status::<D>();
        }
        // SAFETY: nothing is lent, checked above.
        match get(unsafe { self.handle_unchecked() }) {
            Ok(Some(found)) => {
                lend(self, found);
                shmlane_status::Ok
            }
            Ok(None) => none,
            Err(error) => error_status(error),
        }
    }

    /// Lends `batch` (of `len` slots or messages) unless it is empty although
    /// some were asked for: then the ring was full or empty (`none`), or a
    /// blocking wait ran out.
    pub(crate) fn lend_batch(
        &mut self,
        batch: L,
        len: usize,
        max: usize,
        blocking: bool,
        none: shmlane_status,
        count: &mut usize,
    ) -> Result<(), Failure> {
        if len == 0 && max > 0 {
            return Err(if blocking {
                Failure::timeout()
            } else {
                Failure::outcome(none)
            });
        }
        *count = len;
        self.lend(batch);
        Ok(())
    }
}

#[cold]
pub(crate) fn busy<D: Direction>() -> Failure {
    Failure::new(
        shmlane_status::Busy,
        format!(
            "the {} lends a slot, a message or a batch: commit, abort or release it first",
            D::ROLE
        ),
    )
}

#[cold]
#[inline(never)]
fn busy_status<D: Direction>() -> shmlane_status {
    busy::<D>().report()
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
    pub(crate) unsafe fn set_wait_strategy<D: Direction, L, P: Protocol>(
        lender: &mut Lender<D, L, P>,
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
    pub(crate) unsafe fn wait_strategy<D: Direction, L, P: Protocol>(
        lender: &mut Lender<D, L, P>,
        strategy: *mut shmlane_wait_strategy_t,
    ) -> Result<(), Failure> {
        // SAFETY: the caller's contract: valid for writing, or NULL.
        let strategy = unsafe { out_arg(strategy, "strategy")? };
        *strategy = lender.idle()?.wait_strategy().into();
        Ok(())
    }

    /// # Safety
    /// The pointer argument is NULL or valid as the entry point says.
    pub(crate) unsafe fn is_disconnected<D: Direction, L, P: Protocol>(
        lender: &mut Lender<D, L, P>,
        disconnected: *mut u8,
    ) -> Result<(), Failure> {
        // SAFETY: the caller's contract: valid for writing, or NULL.
        let disconnected = unsafe { out_arg(disconnected, "disconnected")? };
        *disconnected = u8::from(lender.idle()?.is_disconnected());
        Ok(())
    }
}
