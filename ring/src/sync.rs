//! The one source of atomics and `UnsafeCell` in the crate.
//!
//! Normally the atomics wrap the standard library's; built with `--cfg loom` they
//! wrap loom's, so the ring algorithms run unchanged under the model checker (the
//! pattern of tokio's `loom` module). They are thin `repr(transparent)` wrappers
//! rather than re-exports so that `clippy.toml` can forbid the standard types
//! everywhere else: in production an `AtomicU64` here has exactly the size and
//! alignment of a `u64` in the mapping.
#![allow(clippy::disallowed_types)]

#[cfg(not(loom))]
use std::sync::atomic as imp;

#[cfg(loom)]
use loom::sync::atomic as imp;

#[cfg_attr(loom, allow(unused_imports))] // the loom build has no file layer
pub(crate) use imp::{fence, Ordering};

/// The ordering of the store that publishes a committed message (SPSC `tail`,
/// MPMC slot stamp): Release. Built with `--cfg shmlane_weaken_commit` it is
/// Relaxed, a deliberate bug that the loom models must catch; that is what
/// shows the models can fail.
#[cfg(not(shmlane_weaken_commit))]
pub(crate) const PUBLISH: Ordering = Ordering::Release;
#[cfg(shmlane_weaken_commit)]
pub(crate) const PUBLISH: Ordering = Ordering::Relaxed;

#[cfg(not(loom))]
pub(crate) use std::hint::spin_loop;
#[cfg(not(loom))]
pub(crate) use std::sync::Arc;

#[cfg(loom)]
pub(crate) use loom::hint::spin_loop;

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;
#[cfg(loom)]
pub(crate) use loom::sync::Arc;

macro_rules! atomic {
    ($name:ident, $int:ty) => {
        #[doc = concat!("An atomic `", stringify!($int), "`: std's normally, loom's under `--cfg loom`.")]
        #[repr(transparent)]
        pub(crate) struct $name(imp::$name);

        #[allow(dead_code)] // not every build uses every operation
        impl $name {
            #[inline]
            pub(crate) fn new(value: $int) -> Self {
                Self(imp::$name::new(value))
            }

            #[inline(always)]
            pub(crate) fn load(&self, order: Ordering) -> $int {
                self.0.load(order)
            }

            #[inline(always)]
            pub(crate) fn store(&self, value: $int, order: Ordering) {
                self.0.store(value, order)
            }

            #[inline(always)]
            pub(crate) fn compare_exchange(
                &self,
                current: $int,
                new: $int,
                success: Ordering,
                failure: Ordering,
            ) -> Result<$int, $int> {
                self.0.compare_exchange(current, new, success, failure)
            }

            #[inline(always)]
            pub(crate) fn fetch_add(&self, value: $int, order: Ordering) -> $int {
                self.0.fetch_add(value, order)
            }

            #[inline(always)]
            pub(crate) fn fetch_sub(&self, value: $int, order: Ordering) -> $int {
                self.0.fetch_sub(value, order)
            }
        }
    };
}

atomic!(AtomicU64, u64);
atomic!(AtomicU32, u32);

#[cfg(not(loom))]
const _: () = {
    // The mapping holds plain integers; the wrappers must be exactly as wide.
    assert!(std::mem::size_of::<AtomicU64>() == 8 && std::mem::align_of::<AtomicU64>() == 8);
    assert!(std::mem::size_of::<AtomicU32>() == 4 && std::mem::align_of::<AtomicU32>() == 4);
};
