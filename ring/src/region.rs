//! The memory a ring lives in: a mapped file in production, a heap model under loom.
//!
//! Algorithm code never computes a pointer itself; it asks the region for the
//! atomic at a layout offset, or for a slot's body. In production the region is a
//! base pointer and a length over a shared mapping, so each accessor is an add and
//! a cast. Built with `--cfg loom`, the region is a heap allocation of loom atomics
//! at the same offsets and of one loom `UnsafeCell` per slot body, so loom checks
//! the orderings of the production code and reports races on payload bytes.

use crate::layout::Geometry;
use crate::sync::{AtomicU32, AtomicU64};

/// Exclusive access to one slot body (length field, then payload), lent by the
/// ring protocol to whoever owns the slot.
pub(crate) struct BodyMut {
    ptr: *mut u8,
    len: usize,
    /// Under loom, the tracked access to the cell, ended by `end_access`.
    #[cfg(loom)]
    track: Option<loom::cell::MutPtr<Vec<u8>>>,
}

/// Shared access to one slot body, lent by the ring protocol to its reader.
pub(crate) struct BodyRef {
    ptr: *const u8,
    len: usize,
    /// Under loom, the tracked access to the cell, ended by `end_access`.
    #[cfg(loom)]
    track: Option<loom::cell::ConstPtr<Vec<u8>>>,
}

/// Every accessor of a [`BodyMut`] is unsafe with one contract: the caller owns
/// the slot by protocol (reserved and not yet committed), so no other party
/// reads or writes its bytes meanwhile. The region guarantees that
/// `ptr..ptr + len` lies inside the mapping.
impl BodyMut {
    /// Writes the length field at the start of the body.
    ///
    /// # Safety
    /// The caller owns the slot (see `impl BodyMut`); the body has a length
    /// field (4 bytes).
    #[inline(always)]
    pub(crate) unsafe fn write_len(&mut self, len: usize) {
        debug_assert!(self.len >= 4);
        // SAFETY: the caller's contract; the field may be unaligned.
        unsafe { self.ptr.cast::<u32>().write_unaligned((len as u32).to_le()) }
    }

    /// The payload after the first `start` bytes of the body, to its end.
    ///
    /// # Safety
    /// The caller owns the slot (see `impl BodyMut`), and `start` is at most
    /// the body's size.
    #[inline(always)]
    pub(crate) unsafe fn payload_mut(&mut self, start: usize) -> &mut [u8] {
        debug_assert!(start <= self.len);
        // SAFETY: the caller's contract: inside the body, ours alone.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), self.len - start) }
    }

    /// The payload after the first `start` bytes of the body, shared.
    ///
    /// # Safety
    /// As [`BodyMut::payload_mut`].
    #[inline(always)]
    pub(crate) unsafe fn payload(&self, start: usize) -> &[u8] {
        debug_assert!(start <= self.len);
        // SAFETY: as in `payload_mut`; a shared borrow of our own slot.
        unsafe { std::slice::from_raw_parts(self.ptr.add(start), self.len - start) }
    }

    /// Tells loom the owner is done with the bytes: called just before the
    /// store that publishes the slot, since the guard holding this body lives a
    /// little longer (a no-op outside loom).
    #[inline(always)]
    pub(crate) fn end_access(&mut self) {
        #[cfg(loom)]
        drop(self.track.take());
    }
}

impl BodyRef {
    /// The body as bytes.
    ///
    /// # Safety
    /// The caller owns the slot by protocol (published and not yet released), so
    /// no other party writes these bytes meanwhile.
    #[inline]
    pub(crate) unsafe fn bytes(&self) -> &[u8] {
        // SAFETY: the region guarantees `ptr..ptr + len` lies inside the mapping;
        // the caller guarantees nobody writes the slot while it reads.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// The length field at the start of the body (unbounded: check it).
    ///
    /// # Safety
    /// As [`BodyRef::bytes`]; the body has a length field (4 bytes).
    #[inline(always)]
    pub(crate) unsafe fn read_len(&self) -> usize {
        debug_assert!(self.len >= 4);
        // SAFETY: the caller's contract; the field may be unaligned.
        u32::from_le(unsafe { self.ptr.cast::<u32>().read_unaligned() }) as usize
    }

    /// The same access, narrowed to the `len` bytes after the first `start`
    /// (a message's payload), so that a guard keeps one pointer and length.
    ///
    /// # Safety
    /// `start + len` is at most the body's size.
    #[inline(always)]
    pub(crate) unsafe fn narrow(self, start: usize, len: usize) -> BodyRef {
        debug_assert!(start <= self.len && len <= self.len - start);
        BodyRef {
            // SAFETY: within the body, as the caller promises.
            ptr: unsafe { self.ptr.add(start) },
            len,
            #[cfg(loom)]
            track: self.track,
        }
    }

    /// Tells loom the reader is done with the bytes: called just before the
    /// store that releases the slot (a no-op outside loom).
    #[inline(always)]
    pub(crate) fn end_access(&mut self) {
        #[cfg(loom)]
        drop(self.track.take());
    }
}

#[cfg(not(loom))]
pub(crate) use mapped::{Region, SlotTable};

#[cfg(not(loom))]
mod mapped {
    use super::*;
    use crate::layout::Header;
    use crate::sync::Ordering;
    use memmap2::MmapRaw;
    use std::ptr::NonNull;

    /// `Region::truncated_to` while no truncation has been found (no file is
    /// `u64::MAX` bytes long).
    const INTACT: u64 = u64::MAX;

    /// Where the slot bodies are: copied into each handle so the hot path reads
    /// no shared or heap state to find a slot.
    #[derive(Clone, Copy)]
    pub(crate) struct SlotTable {
        /// The body of slot 0 (past its stamp, in an MPMC ring): one add fewer
        /// per slot access than the slot's start would cost.
        first_body: NonNull<u8>,
        body_offset: usize,
        mask: u64,
        slot_size: usize,
        body_size: usize,
    }

    impl SlotTable {
        #[inline(always)]
        fn body_ptr(&self, position: u64) -> *mut u8 {
            let index = (position & self.mask) as usize;
            // SAFETY: the index is masked below the capacity, and the table was
            // made from a region holding `capacity` slots (`Region::slot_table`),
            // which the handle holding this table keeps mapped; the body lies
            // inside its slot (`body_offset + body_size == slot_size`).
            unsafe { self.first_body.as_ptr().add(index * self.slot_size) }
        }

        #[inline(always)]
        fn slot_ptr(&self, position: u64) -> *mut u8 {
            // SAFETY: the slot starts `body_offset` bytes before its body.
            unsafe { self.body_ptr(position).sub(self.body_offset) }
        }

        /// The sequence stamp of the slot for `position` (masked); MPMC rings only.
        #[inline(always)]
        pub(crate) fn stamp(&self, position: u64) -> &AtomicU64 {
            debug_assert!(self.body_offset >= 8, "only MPMC slots have a stamp");
            // SAFETY: an MPMC slot starts with its 8-byte stamp, 8-aligned since
            // slots start at a line boundary and their size is a multiple of 8;
            // every process touches it only atomically.
            unsafe { &*self.slot_ptr(position).cast::<AtomicU64>() }
        }

        /// Word `index` of the body of the slot for `position` (masked), for a
        /// reader that does not own the slot and must load it atomically (an
        /// untethered broadcast subscriber, whose producer may overwrite it).
        ///
        /// # Panics
        /// If `index` is not below `body_size / 8`.
        #[inline]
        pub(crate) fn body_word(&self, position: u64, index: usize) -> &AtomicU64 {
            assert!(
                index < self.body_size / 8,
                "word {index} is outside the body"
            );
            // SAFETY: the word lies inside the body (checked above); bodies
            // start 8-aligned (slots start at a line boundary, their sizes and
            // the stamp are multiples of 8), so the word is aligned; every
            // process touches shared memory through raw pointers or atomics,
            // never through references, so an atomic view of it is sound.
            unsafe { &*self.body_ptr(position).add(index * 8).cast::<AtomicU64>() }
        }

        /// The words of the body of the slot for `position` (masked) from word
        /// `skip` on, for a reader that does not own the slot and must load it
        /// atomically (an untethered broadcast subscriber).
        ///
        /// # Panics
        /// If `skip` is past the body's words.
        #[inline]
        pub(crate) fn body_words(&self, position: u64, skip: usize) -> &[AtomicU64] {
            let words = self.body_size / 8;
            assert!(skip <= words, "word {skip} is outside the body");
            // SAFETY: as `body_word`: the words lie inside the body (`skip`
            // checked above, body sizes are multiples of 8), 8-aligned, and
            // shared memory is only ever touched through raw pointers or
            // atomics, so an atomic view of it is sound.
            unsafe {
                std::slice::from_raw_parts(
                    self.body_ptr(position).add(skip * 8).cast::<AtomicU64>(),
                    words - skip,
                )
            }
        }

        /// The body of the slot for `position` (masked), for its owner to write.
        #[inline(always)]
        pub(crate) fn body_mut(&self, position: u64) -> BodyMut {
            BodyMut {
                ptr: self.body_ptr(position),
                len: self.body_size,
            }
        }

        /// Asks the CPU to start fetching the slot for `position` into its cache:
        /// a waiting consumer overlaps the slot's cache miss with the position
        /// word's. A prefetch is a hint, not a memory access, so it races with
        /// nothing.
        #[inline(always)]
        pub(crate) fn prefetch(&self, position: u64) {
            let ptr = self.body_ptr(position);
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `_mm_prefetch` reads no memory and cannot fault; SSE is
            // part of the x86-64 baseline.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    ptr.cast::<i8>(),
                )
            };
            #[cfg(target_arch = "aarch64")]
            // SAFETY: `prfm` is a hint: it reads no memory visibly, cannot
            // fault, and touches no register but its address operand.
            unsafe {
                std::arch::asm!("prfm pldl1keep, [{0}]", in(reg) ptr, options(nostack, preserves_flags, readonly));
            };
            #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
            let _ = ptr;
        }

        /// The body of the slot for `position` (masked), for its reader.
        #[inline(always)]
        pub(crate) fn body_ref(&self, position: u64) -> BodyRef {
            BodyRef {
                ptr: self.body_ptr(position),
                len: self.body_size,
            }
        }

        /// The `count` slots from `position` on, as at most two runs of whole
        /// slots: up to the end of the ring, then from its start. Returns each
        /// run's first body and its length in bytes (`count <= capacity`).
        #[inline]
        pub(crate) fn runs(&self, position: u64, count: usize) -> [(*mut u8, usize); 2] {
            let index = (position & self.mask) as usize;
            let until_end = self.mask as usize + 1 - index;
            let first = count.min(until_end);
            [
                (self.body_ptr(position), first * self.slot_size),
                (self.body_ptr(0), (count - first) * self.slot_size),
            ]
        }
    }

    /// A ring's shared mapping, with the validated geometry that bounds every access.
    pub(crate) struct Region {
        base: NonNull<u8>,
        len: usize,
        geometry: Geometry,
        /// The header as validated at open (or as written at creation): what
        /// `info` reports, since header fields are never read from the mapping
        /// again once validated.
        header: Header,
        /// The file size a check found shorter than the ring, or [`INTACT`]:
        /// once set, pages of the mapping may be gone, and handles stop
        /// touching it where they can (drops, sleeps). Process-local, not in
        /// the mapping.
        truncated_to: AtomicU64,
        // Kept last: the mapping outlives every pointer computed from it because
        // handles hold the region (through `Arc`) for their whole life.
        _mapping: MmapRaw,
    }

    // SAFETY: the region is a plain shared mapping; all concurrent access to it
    // goes through atomics or through slots owned by protocol, so it may be used
    // and dropped from any thread.
    unsafe impl Send for Region {}
    // SAFETY: as above: `&Region` only hands out atomics and protocol-owned bodies.
    unsafe impl Sync for Region {}

    impl Region {
        /// Wraps a mapping at least `geometry.total_size` bytes long, whose
        /// header was validated as `header` (`geometry` derives from it).
        ///
        /// Panics if the mapping is shorter: callers validate the file size first.
        pub(crate) fn over_mapping(mapping: MmapRaw, geometry: Geometry, header: Header) -> Region {
            let len = mapping.len();
            assert!(
                len as u64 >= geometry.total_size,
                "mapping shorter than the ring"
            );
            let base = NonNull::new(mapping.as_mut_ptr()).expect("mmap never returns null");
            Region {
                base,
                len,
                geometry,
                header,
                truncated_to: AtomicU64::new(INTACT),
                _mapping: mapping,
            }
        }

        /// The file size at which a check found the ring's file truncated, if
        /// one has (`Shared::check_size`): then the mapping must not be touched.
        #[inline]
        pub(crate) fn truncated_to(&self) -> Option<u64> {
            // Ordering: Relaxed; a process-local flag that guards no other data.
            let size = self.truncated_to.load(Ordering::Relaxed);
            (size != INTACT).then_some(size)
        }

        /// Records that the ring's file was found `file_size` bytes long,
        /// shorter than the ring; the first finding stays.
        pub(crate) fn mark_truncated(&self, file_size: u64) {
            // Ordering: Relaxed, as in `truncated_to`.
            let _ = self.truncated_to.compare_exchange(
                INTACT,
                file_size,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }

        /// The validated geometry of the ring.
        #[inline]
        pub(crate) fn geometry(&self) -> &Geometry {
            &self.geometry
        }

        /// The header as validated when the ring was opened (or written when
        /// it was created; its ready word is then still zero).
        pub(crate) fn header(&self) -> &Header {
            &self.header
        }

        /// The `u64` atomic at a layout offset.
        #[inline]
        pub(crate) fn u64_at(&self, offset: usize) -> &AtomicU64 {
            assert!(
                offset % 8 == 0 && offset + 8 <= self.len,
                "u64 offset {offset} outside the ring"
            );
            // SAFETY: in bounds and 8-aligned (the mapping is page-aligned) as just
            // checked; `AtomicU64` has the size and alignment of `u64`, and every
            // process touches this word only atomically.
            unsafe { &*self.base.as_ptr().add(offset).cast::<AtomicU64>() }
        }

        /// The `u32` atomic at a layout offset.
        #[inline]
        pub(crate) fn u32_at(&self, offset: usize) -> &AtomicU32 {
            assert!(
                offset % 4 == 0 && offset + 4 <= self.len,
                "u32 offset {offset} outside the ring"
            );
            // SAFETY: in bounds and 4-aligned as just checked; every process
            // touches this word only atomically.
            unsafe { &*self.base.as_ptr().add(offset).cast::<AtomicU32>() }
        }

        /// The slot bodies, as a small copyable table for handles to keep.
        pub(crate) fn slot_table(&self) -> SlotTable {
            let first_body =
                self.geometry.slots_offset as usize + self.geometry.body_offset_in_slot();
            assert!(
                self.geometry.total_size as usize <= self.len,
                "slots outside the ring"
            );
            SlotTable {
                // SAFETY: in bounds: the slots end at `total_size`, within the
                // mapping, and slot 0's body lies inside slot 0.
                first_body: unsafe { NonNull::new_unchecked(self.base.as_ptr().add(first_body)) },
                body_offset: self.geometry.body_offset_in_slot(),
                mask: self.geometry.mask,
                slot_size: self.geometry.slot_size as usize,
                body_size: self.geometry.body_size(),
            }
        }

        /// Base address of the mapping, for header access by the file layer.
        pub(crate) fn base(&self) -> *mut u8 {
            self.base.as_ptr()
        }
    }
}

#[cfg(loom)]
pub use heap::{Region, SlotTable};

#[cfg(loom)]
mod heap {
    use super::*;
    use crate::layout;
    use crate::sync::UnsafeCell;
    use std::collections::HashMap;

    /// The loom build's slot table: a pointer to the heap region, which the
    /// handle holding the table keeps alive.
    #[derive(Clone, Copy)]
    pub struct SlotTable {
        region: std::ptr::NonNull<Region>,
    }

    impl SlotTable {
        pub(crate) fn body_mut(&self, position: u64) -> BodyMut {
            // SAFETY: the handle holding this table keeps the region alive.
            unsafe { self.region.as_ref() }.body_mut(position)
        }

        pub(crate) fn prefetch(&self, _position: u64) {}

        pub(crate) fn body_ref(&self, position: u64) -> BodyRef {
            // SAFETY: the handle holding this table keeps the region alive.
            unsafe { self.region.as_ref() }.body_ref(position)
        }

        pub(crate) fn stamp(&self, position: u64) -> &AtomicU64 {
            // SAFETY: the handle holding this table keeps the region alive.
            let region = unsafe { self.region.as_ref() };
            region.u64_at(region.geometry.slot_offset(position))
        }
    }

    /// A heap model of a ring for loom: loom atomics at the layout's atomic
    /// offsets and one loom cell per slot body.
    pub struct Region {
        geometry: Geometry,
        u64s: HashMap<usize, AtomicU64>,
        u32s: HashMap<usize, AtomicU32>,
        bodies: Vec<UnsafeCell<Vec<u8>>>,
    }

    impl Region {
        /// A zeroed ring of this geometry on the heap, as a creator leaves it.
        pub fn on_heap(geometry: Geometry) -> Region {
            let mut u64s = HashMap::new();
            let mut u32s = HashMap::new();
            u64s.insert(layout::TAIL_OFFSET, AtomicU64::new(0));
            u64s.insert(layout::GATE_OFFSET, AtomicU64::new(0));
            u64s.insert(layout::HEAD_OFFSET, AtomicU64::new(0));
            for line in 0..2 {
                let offset = layout::WAIT_LINES_OFFSET + line * layout::LINE_SIZE;
                u32s.insert(offset + layout::WAIT_FUTEX, AtomicU32::new(0));
                u32s.insert(offset + layout::WAIT_WAITERS, AtomicU32::new(0));
                u64s.insert(offset + layout::WAIT_SLEEPS, AtomicU64::new(0));
                u64s.insert(offset + layout::WAIT_WAKES, AtomicU64::new(0));
                u32s.insert(offset + layout::WAIT_SLEEPERS, AtomicU32::new(0));
                u64s.insert(offset + layout::WAIT_EPOCH, AtomicU64::new(0));
            }
            for index in 0..geometry.participant_count {
                let record = geometry.record_offset(index);
                u64s.insert(record + layout::RECORD_OWNER, AtomicU64::new(0));
                u32s.insert(record + layout::RECORD_PID, AtomicU32::new(0));
                u32s.insert(record + layout::RECORD_SUBSCRIPTION, AtomicU32::new(0));
                u64s.insert(record + layout::RECORD_CURSOR, AtomicU64::new(0));
                u64s.insert(record + layout::RECORD_JOINED_NS, AtomicU64::new(0));
                u64s.insert(record + layout::RECORD_WAKE_ACK, AtomicU64::new(0));
                u64s.insert(record + layout::RECORD_WAIT_STATE, AtomicU64::new(0));
                u64s.insert(record + layout::RECORD_CLAIM_START, AtomicU64::new(0));
                u64s.insert(record + layout::RECORD_CLAIM_END, AtomicU64::new(0));
            }
            if geometry.kind == layout::Kind::Mpmc {
                for position in 0..geometry.capacity {
                    // Slot `i` starts out free for position `i`, as `shm` writes it.
                    u64s.insert(geometry.slot_offset(position), AtomicU64::new(position));
                }
            }
            if geometry.kind == layout::Kind::Broadcast {
                for position in 0..geometry.capacity {
                    // Never written: the creator's zeros.
                    u64s.insert(geometry.slot_offset(position), AtomicU64::new(0));
                }
            }
            u64s.insert(layout::PRODUCER_JOINS_OFFSET, AtomicU64::new(0));
            u64s.insert(layout::CONSUMER_JOINS_OFFSET, AtomicU64::new(0));
            u64s.insert(layout::DROPPED_CLAIMS_OFFSET, AtomicU64::new(0));
            u64s.insert(layout::LOST_MESSAGES_OFFSET, AtomicU64::new(0));
            let bodies = (0..geometry.capacity)
                .map(|_| UnsafeCell::new(vec![0u8; geometry.body_size()]))
                .collect();
            Region {
                geometry,
                u64s,
                u32s,
                bodies,
            }
        }

        pub(crate) fn geometry(&self) -> &Geometry {
            &self.geometry
        }

        /// The heap model has no file to truncate.
        pub(crate) fn truncated_to(&self) -> Option<u64> {
            None
        }

        pub(crate) fn u64_at(&self, offset: usize) -> &AtomicU64 {
            self.u64s
                .get(&offset)
                .expect("no u64 atomic at this offset in the heap model")
        }

        pub(crate) fn u32_at(&self, offset: usize) -> &AtomicU32 {
            self.u32s
                .get(&offset)
                .expect("no u32 atomic at this offset in the heap model")
        }

        pub(crate) fn slot_table(&self) -> SlotTable {
            SlotTable {
                region: std::ptr::NonNull::from(self),
            }
        }

        fn body_mut(&self, position: u64) -> BodyMut {
            let cell = &self.bodies[(position & self.geometry.mask) as usize];
            let track = cell.get_mut();
            // SAFETY: loom checks that no other access to this cell overlaps the
            // life of `track`; the vector itself is never resized.
            let ptr = unsafe { track.deref() }.as_mut_ptr();
            BodyMut {
                ptr,
                len: self.geometry.body_size(),
                track: Some(track),
            }
        }

        fn body_ref(&self, position: u64) -> BodyRef {
            let cell = &self.bodies[(position & self.geometry.mask) as usize];
            let track = cell.get();
            // SAFETY: as in `body_mut`, loom tracks the access for the life of `track`.
            let ptr = unsafe { track.deref() }.as_ptr();
            BodyRef {
                ptr,
                len: self.geometry.body_size(),
                track: Some(track),
            }
        }
    }
}
