//! What a Python producer or consumer is underneath: a Rust handle of a ring
//! of any kind, and the guard of the slot or message it lent to Python.
//!
//! Python cannot hold a Rust borrow, so the guard is kept next to the handle
//! it borrows (as the C API does). The handle lives in its own heap
//! allocation, reached through a raw pointer; while a guard is kept, the
//! handle is reached only through that guard, and the guard is dropped
//! before the handle is freed. That is what the `'static` lifetimes of the
//! guards stand for.

use std::ptr::NonNull;

use shmlane::{AnyKind, Direction, Error, Handle, Ring};

/// A Rust handle of direction `D` and the loan `L` it lent, if any.
pub(crate) struct Lender<D: Direction, L> {
    /// Declared first: dropped before `handle`, which it may borrow.
    lent: Option<L>,
    handle: NonNull<Handle<AnyKind, D>>,
}

// SAFETY: the handle is `Send`, and a loan holds the handle's guard: a
// borrow of the handle (which moves with it) and pointers into the mapping
// that the handle keeps alive. Nothing in a lender belongs to one thread.
unsafe impl<D: Direction, L> Send for Lender<D, L> {}

impl<D: Direction, L> Drop for Lender<D, L> {
    fn drop(&mut self) {
        // A reserved slot is given up, a borrowed message released.
        self.lent = None;
        // SAFETY: made by `Box::leak` in `Lender::join`; no guard borrows it
        // any more, and it is freed once, here.
        drop(unsafe { Box::from_raw(self.handle.as_ptr()) });
    }
}

impl<D: Direction, L> Lender<D, L> {
    /// Joins `ring` in direction `D`.
    pub(crate) fn join(ring: &Ring) -> Result<Lender<D, L>, Error> {
        let handle = Handle::<AnyKind, D>::join(ring)?;
        Ok(Lender {
            lent: None,
            handle: NonNull::from(Box::leak(Box::new(handle))),
        })
    }

    /// What is lent, if anything.
    pub(crate) fn lent(&self) -> Option<&L> {
        self.lent.as_ref()
    }

    /// Takes back what is lent, to drop it (release, give up) or use it up
    /// (commit).
    pub(crate) fn take_lent(&mut self) -> Option<L> {
        self.lent.take()
    }

    /// The Rust handle, to lend from; `None` while something is lent (its
    /// guard borrows the handle).
    pub(crate) fn idle(&mut self) -> Option<HandlePtr<D>> {
        self.lent.is_none().then_some(HandlePtr(self.handle))
    }

    /// Keeps `loan`, made from the handle [`Lender::idle`] gave.
    pub(crate) fn lend(&mut self, loan: L) {
        debug_assert!(self.lent.is_none());
        self.lent = Some(loan);
    }
}

/// The Rust handle of an idle [`Lender`], for one call at a time, with the
/// GIL held or released.
pub(crate) struct HandlePtr<D: Direction>(NonNull<Handle<AnyKind, D>>);

impl<D: Direction> Clone for HandlePtr<D> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<D: Direction> Copy for HandlePtr<D> {}

// SAFETY: a `HandlePtr` is used by the thread that took it from its lender,
// with the GIL released or held (`Python::detach` runs its closure on the
// calling thread); the handle it points to is `Send` in any case.
unsafe impl<D: Direction> Send for HandlePtr<D> {}

impl<D: Direction> HandlePtr<D> {
    /// The handle, for one call whose guard is dropped, returned to be
    /// dropped, or lent to the lender before the next `get`.
    ///
    /// # Safety
    /// No reference from an earlier `get` (nor a guard made from one) is in
    /// use, nothing is lent by the lender meanwhile, and the lender (which
    /// the caller borrows) outlives the use.
    pub(crate) unsafe fn get(self) -> &'static mut Handle<AnyKind, D> {
        // SAFETY: the allocation lives until the lender's `drop`, which first
        // drops every guard made from this reference; the caller's contract
        // keeps this the only reference in use.
        unsafe { &mut *self.0.as_ptr() }
    }
}
