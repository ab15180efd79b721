//! `Attached`: what a handle keeps of the ring it joined, whatever its kind.
//!
//! A handle copies everything its hot path needs out of the shared region once,
//! when it joins: typed pointers to the two position words, the slot table, and
//! the geometry values. From then on it reads no header field and no heap state.

use std::ptr::NonNull;

use crate::error::Error;
use crate::layout::{self, Kind};
use crate::region::SlotTable;
use crate::shm::Shared;
use crate::sync::{Arc, AtomicU64};

/// The parts of the ring a handle uses, computed once when it joins.
pub(crate) struct Attached {
    pub(crate) shared: Arc<Shared>,
    /// Shared `tail` word (producer line).
    tail_word: NonNull<AtomicU64>,
    /// Shared `head` word (consumer line).
    head_word: NonNull<AtomicU64>,
    /// Where the slots are, copied out of the region.
    pub(crate) slots: SlotTable,
    pub(crate) capacity: u64,
    pub(crate) max_payload: usize,
    /// Whether every message is exactly `max_payload` bytes.
    pub(crate) fixed_size: bool,
    /// Bytes of length field before each payload: 8, or 0 for fixed-size messages.
    pub(crate) len_field: usize,
    /// Whether consecutive slots' payloads are contiguous bytes (fixed-size
    /// messages without a slot header: SPSC), so a batch is two byte runs.
    #[cfg_attr(loom, allow(dead_code))] // only the byte-run views use it
    pub(crate) contiguous: bool,
}

impl Attached {
    /// Attaches to a ring that must be of `kind` (any kind for `None`), and
    /// whose file still holds all of it: joining is a cheap time to look (one
    /// `fstat` among the system calls of taking a record's lock).
    pub(crate) fn new(shared: Arc<Shared>, kind: Option<Kind>) -> Result<Attached, Error> {
        shared.check_size()?;
        let geometry = *shared.region.geometry();
        if let Some(kind) = kind.filter(|&kind| kind != geometry.kind) {
            return Err(Error::wrong_kind(kind.name(), geometry.kind.name()));
        }
        let tail_word = NonNull::from(shared.region.u64_at(layout::TAIL_OFFSET));
        let head_word = NonNull::from(shared.region.u64_at(layout::HEAD_OFFSET));
        let slots = shared.region.slot_table();
        Ok(Attached {
            shared,
            tail_word,
            head_word,
            slots,
            capacity: geometry.capacity,
            max_payload: geometry.max_payload as usize,
            fixed_size: geometry.fixed_size,
            len_field: geometry.len_field_size(),
            contiguous: geometry.kind.slot_header_size(geometry.fixed_size) == 0,
        })
    }

    /// Whether handles must leave without touching the mapping, as a dead
    /// process would: the ring's file was found truncated (its pages may be
    /// gone). The lock of each handle's record goes when the handle drops.
    pub(crate) fn left_for_dead(&self) -> bool {
        self.shared.region.truncated_to().is_some()
    }

    #[inline]
    pub(crate) fn tail_word(&self) -> &AtomicU64 {
        // SAFETY: points into the region, which `self.shared` keeps alive.
        unsafe { self.tail_word.as_ref() }
    }

    #[inline]
    pub(crate) fn head_word(&self) -> &AtomicU64 {
        // SAFETY: points into the region, which `self.shared` keeps alive.
        unsafe { self.head_word.as_ref() }
    }

    /// Checks that a message of `len` bytes suits the ring.
    #[inline]
    pub(crate) fn check_len(&self, len: usize) -> Result<(), Error> {
        if self.fixed_size {
            if len != self.max_payload {
                return Err(Error::wrong_message_size(len, self.max_payload));
            }
        } else if len > self.max_payload {
            return Err(Error::message_too_large(len, self.max_payload));
        }
        Ok(())
    }

    /// Whether a message of `len` bytes fits this ring (a fixed-size ring's
    /// messages are exactly `max_payload` bytes): a compare, for hot paths
    /// that keep the error out of line.
    #[inline(always)]
    pub(crate) fn len_ok(&self, len: usize) -> bool {
        if self.fixed_size {
            len == self.max_payload
        } else {
            len <= self.max_payload
        }
    }

    /// The error for a length that [`Attached::len_ok`] refused.
    #[cold]
    #[inline(never)]
    pub(crate) fn len_error(&self, len: usize) -> Error {
        if self.fixed_size {
            Error::wrong_message_size(len, self.max_payload)
        } else {
            Error::message_too_large(len, self.max_payload)
        }
    }
}

impl Attached {
    /// The payload of the slot at `position` (masked), `max_payload` bytes.
    ///
    /// # Safety
    /// The caller owns the slot by protocol (claimed, not yet published) for
    /// all of `'a`, and holds no other reference to it meanwhile.
    #[inline]
    pub(crate) unsafe fn payload_mut<'a>(&self, position: u64) -> &'a mut [u8] {
        let mut body = self.slots.body_mut(position);
        // SAFETY: the caller owns the slot; `len_field` is within the body.
        let payload = unsafe { body.payload_mut(self.len_field) };
        let (ptr, len) = (payload.as_mut_ptr(), payload.len());
        // SAFETY: the same memory, for the lifetime the caller's ownership
        // covers (the `BodyMut` token is only a position, not the owner).
        unsafe { std::slice::from_raw_parts_mut(ptr, len) }
    }

    /// Checks `len` and writes it into the slot at `position` (nothing to write
    /// in a ring of fixed-size messages).
    ///
    /// # Safety
    /// As [`Attached::payload_mut`], for the duration of the call.
    #[inline]
    pub(crate) unsafe fn set_slot_len(&self, position: u64, len: usize) -> Result<(), Error> {
        if !self.len_ok(len) {
            return Err(self.len_error(len));
        }
        if !self.fixed_size {
            // SAFETY: the caller owns the slot; a variable-size ring's body
            // starts with its length field.
            unsafe { self.slots.body_mut(position).write_len(len) };
        }
        Ok(())
    }

    /// The message in the slot at `position`, its length bounded by
    /// `max_payload` again (it lives in shared memory and is re-read here).
    ///
    /// # Safety
    /// The caller owns the published slot by protocol (not yet released) for
    /// all of `'a`.
    #[inline]
    pub(crate) unsafe fn message<'a>(&self, position: u64) -> &'a [u8] {
        let body = self.slots.body_ref(position);
        let len = if self.fixed_size {
            self.max_payload
        } else {
            // SAFETY: the caller owns the slot, which has a length field.
            unsafe { body.read_len() }.min(self.max_payload)
        };
        // SAFETY: `len_field + len` is within the body (`len <= max_payload`).
        let payload = unsafe { body.narrow(self.len_field, len) };
        // SAFETY: the caller owns the slot for `'a`; the region keeps it mapped.
        let bytes = unsafe { payload.bytes() };
        // SAFETY: the same memory, for the lifetime the caller's ownership covers.
        unsafe { std::slice::from_raw_parts(bytes.as_ptr(), bytes.len()) }
    }
}

/// Copies `src` into `dst` (of the same length) without a call for messages
/// of up to 64 bytes: two overlapping copies of a fixed size the compiler
/// turns into moves, where `copy_from_slice` of a length known only at run
/// time calls `memcpy`.
#[inline(always)]
pub(crate) fn copy_message(dst: &mut [u8], src: &[u8]) {
    let len = src.len();
    debug_assert_eq!(dst.len(), len);
    /// The first and last `N` bytes, as arrays: copies of a size known at
    /// compile time (each slice is cut by its own length, so the compiler
    /// sees `N` bytes in every one).
    #[inline(always)]
    fn ends<const N: usize>(dst: &mut [u8], src: &[u8]) {
        let (from, to) = (src.len(), dst.len());
        let head: [u8; N] = src[..N].try_into().expect("N bytes");
        let tail: [u8; N] = src[from - N..].try_into().expect("N bytes");
        dst[..N].copy_from_slice(&head);
        dst[to - N..].copy_from_slice(&tail);
    }
    match len {
        0 => {}
        1..=3 => {
            dst[0] = src[0];
            dst[len / 2] = src[len / 2];
            dst[len - 1] = src[len - 1];
        }
        4..=7 => ends::<4>(dst, src),
        8..=15 => ends::<8>(dst, src),
        16..=31 => ends::<16>(dst, src),
        32..=64 => ends::<32>(dst, src),
        _ => dst.copy_from_slice(src),
    }
}

#[cfg(test)]
mod tests {
    use super::copy_message;

    /// Every length from 0 past the in-line cases: each byte lands where it
    /// belongs and nothing past the end is touched.
    #[test]
    fn copy_message_copies_every_length_exactly() {
        let source: Vec<u8> = (0..200u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in 0..=150 {
            let mut target = vec![0xAAu8; len + 16];
            copy_message(&mut target[..len], &source[..len]);
            assert_eq!(&target[..len], &source[..len], "length {len}");
            assert!(
                target[len..].iter().all(|&byte| byte == 0xAA),
                "length {len} wrote past its end"
            );
        }
    }
}
