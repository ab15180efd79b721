//! Producers: reserve slots in place and commit them, one or a batch at a time.
//!
//! A C caller cannot hold a Rust borrow, so the handle keeps the Rust guard of
//! the slot it lent (a `WriteSlot` or `WriteBatch`) next to the producer the
//! guard borrows. The producer lives in its own heap allocation, reached
//! through a raw pointer; while a guard is kept, the handle reaches the
//! producer only through that guard, and the guard is dropped before the
//! producer is freed. That is what the `'static` lifetimes below stand for.

use std::ffi::c_void;
use std::ptr::NonNull;

use shmlane::{mpmc, spsc, Kind, WaitStrategy};

use crate::ring::ring_arg;
use crate::status::{entry, entry_status, error_status, null_argument, shmlane_status, Failure};
use crate::wait::shmlane_wait_strategy_t;
use crate::{in_arg, out_arg, timeout_arg};

/// The producer of either kind.
enum Producer {
    Spsc(spsc::Producer),
    Mpmc(mpmc::Producer),
}

/// What the handle has lent to C.
enum Lent {
    Nothing,
    /// An SPSC slot reserved without a guard (`try_reserve_unguarded`).
    SpscSlot,
    MpmcSlot(mpmc::WriteSlot<'static>),
    SpscBatch(spsc::WriteBatch<'static>),
    MpmcBatch(mpmc::WriteBatch<'static>),
}

/// A producing handle of a ring, SPSC or MPMC.
///
/// Made by `shmlane_producer_open`, freed by `shmlane_producer_close`. A
/// handle may move between threads but must not be used by two threads at
/// once: give each producing thread its own handle (MPMC) or serialize.
pub struct shmlane_producer_t {
    /// Declared first: dropped before `producer`, which it may borrow.
    lent: Lent,
    producer: NonNull<Producer>,
    max_payload: usize,
    capacity: usize,
}

impl Drop for shmlane_producer_t {
    fn drop(&mut self) {
        // An uncommitted slot is given up: SPSC publishes nothing, MPMC hands
        // it on marked to be skipped.
        self.lent = Lent::Nothing;
        // SAFETY: made by `Box::into_raw` in `shmlane_producer_open`; no guard
        // borrows it any more, and it is freed once, here.
        drop(unsafe { Box::from_raw(self.producer.as_ptr()) });
    }
}

impl shmlane_producer_t {
    /// The producer, if nothing is lent (a guard would borrow it).
    #[inline]
    fn idle_producer(&mut self) -> Result<&'static mut Producer, Failure> {
        if !matches!(self.lent, Lent::Nothing) {
            return Err(busy());
        }
        // SAFETY: the allocation lives until `drop`, which first drops every
        // guard made from this reference; nothing else reaches the producer
        // while a guard is kept (`lent` is checked above by every path).
        Ok(unsafe { &mut *self.producer.as_ptr() })
    }
}

impl shmlane_producer_t {
    /// Records a guardless SPSC slot as lent. Nothing was lent before (the
    /// caller checked), so the old value needs no drop: forgetting it spares
    /// the hot path the drop glue of every guard type.
    #[inline(always)]
    fn lend_spsc_slot(&mut self) {
        let previous = std::mem::replace(&mut self.lent, Lent::SpscSlot);
        debug_assert!(matches!(previous, Lent::Nothing));
        std::mem::forget(previous);
    }
}

#[cold]
#[inline(never)]
fn busy_status() -> shmlane_status {
    busy().report()
}

#[cold]
fn busy() -> Failure {
    Failure::new(
        shmlane_status::Busy,
        "the producer holds a reserved slot or batch: commit or abort it first",
    )
}

#[cold]
fn nothing_lent(what: &str) -> Failure {
    Failure::new(
        shmlane_status::NothingPending,
        format!("{what}: no slot is reserved"),
    )
}

/// Borrows a producer handle.
///
/// # Safety
/// `producer` is NULL or a live handle not used by another thread right now.
#[inline]
unsafe fn producer_arg<'a>(
    producer: *mut shmlane_producer_t,
) -> Result<&'a mut shmlane_producer_t, Failure> {
    // SAFETY: the caller's contract above.
    unsafe { out_arg(producer, "producer") }
}

/// Joins a ring as a producer. On an SPSC ring, `SHMLANE_STATUS_ROLE_TAKEN`
/// while another producer lives; on an MPMC ring,
/// `SHMLANE_STATUS_TOO_MANY_PARTICIPANTS` when every record is held. A
/// producer that died is taken over. Free the handle with
/// `shmlane_producer_close`. Thread-safe.
///
/// # Safety
/// `ring` is a live ring handle; `out` is valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn shmlane_producer_open(
    ring: *const crate::shmlane_ring_t,
    out: *mut *mut shmlane_producer_t,
) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        let (ring, out) = unsafe { (ring_arg(ring)?, out_arg(out, "out")?) };
        let producer = match ring.kind() {
            Kind::Spsc => Producer::Spsc(spsc::Producer::join(ring)?),
            _ => Producer::Mpmc(mpmc::Producer::join(ring)?),
        };
        let handle = shmlane_producer_t {
            lent: Lent::Nothing,
            producer: NonNull::from(Box::leak(Box::new(producer))),
            max_payload: ring.max_payload(),
            capacity: ring.geometry().capacity as usize,
        };
        *out = Box::into_raw(Box::new(handle));
        Ok(())
    })
}

/// Leaves the ring and frees the handle. A reserved, uncommitted slot is
/// given up (never seen by consumers). NULL is ignored.
///
/// # Safety
/// `producer` is NULL or a live handle; it is invalid afterwards.
#[no_mangle]
pub unsafe extern "C" fn shmlane_producer_close(producer: *mut shmlane_producer_t) {
    if !producer.is_null() {
        let _ = std::panic::catch_unwind(|| {
            // SAFETY: made by `Box::into_raw` in `shmlane_producer_open`, not closed before.
            drop(unsafe { Box::from_raw(producer) });
        });
    }
}

/// The largest message the producer's ring carries; 0 for NULL.
///
/// # Safety
/// `producer` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn shmlane_producer_max_payload(
    producer: *const shmlane_producer_t,
) -> usize {
    // SAFETY: the caller's contract above.
    unsafe { producer.as_ref() }.map_or(0, |p| p.max_payload)
}

/// The number of slots of the producer's ring; 0 for NULL.
///
/// # Safety
/// `producer` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn shmlane_producer_capacity(producer: *const shmlane_producer_t) -> usize {
    // SAFETY: the caller's contract above.
    unsafe { producer.as_ref() }.map_or(0, |p| p.capacity)
}

/// Hands a reserved slot's payload to C and keeps its guard.
macro_rules! lend_slot {
    ($lent:expr, $variant:ident, $slot:expr, $data:expr, $capacity:expr) => {{
        let mut slot = $slot;
        *$data = slot.as_mut_ptr();
        *$capacity = slot.len();
        $lent = Lent::$variant(slot);
    }};
}

/// Reserves the next slot without waiting. On success `*data` points to the
/// slot's `*capacity` (= max payload) bytes, writable until
/// `shmlane_producer_commit` or `shmlane_producer_abort`.
///
/// `SHMLANE_STATUS_FULL` when no slot is free; `SHMLANE_STATUS_DISCONNECTED`
/// when, in addition, every consumer has closed or died;
/// `SHMLANE_STATUS_BUSY` while a slot or batch is already reserved.
///
/// # Safety
/// `producer` is a live handle, not used by another thread during the call;
/// `data` and `capacity` are valid for writing.
#[no_mangle]
pub unsafe extern "C" fn shmlane_producer_try_reserve(
    producer: *mut shmlane_producer_t,
    data: *mut *mut u8,
    capacity: *mut usize,
) -> shmlane_status {
    entry_status(|| {
        // SAFETY: the caller's contract above.
        let (Some(handle), Some(data), Some(capacity)) =
            (unsafe { (producer.as_mut(), data.as_mut(), capacity.as_mut()) })
        else {
            return null_argument("producer, data or capacity");
        };
        if !matches!(handle.lent, Lent::Nothing) {
            return busy_status();
        }
        // SAFETY: nothing is lent (checked above), so no guard borrows the producer.
        match unsafe { &mut *handle.producer.as_ptr() } {
            Producer::Spsc(p) => match p.try_reserve_unguarded() {
                Ok(slot) => {
                    *data = slot.as_ptr();
                    *capacity = handle.max_payload;
                    handle.lend_spsc_slot();
                }
                Err(error) => return error_status(error),
            },
            Producer::Mpmc(p) => return mpmc_try_reserve(&mut handle.lent, p, data, capacity),
        }
        shmlane_status::Ok
    })
}

/// The MPMC half of `shmlane_producer_try_reserve`, out of line: the SPSC
/// path then needs few registers and little stack, and a call costs fewer
/// stores (which wait behind the last slot's write).
#[inline(never)]
fn mpmc_try_reserve(
    lent: &mut Lent,
    producer: &'static mut mpmc::Producer,
    data: &mut *mut u8,
    capacity: &mut usize,
) -> shmlane_status {
    match producer.try_reserve() {
        Ok(slot) => {
            lend_slot!(*lent, MpmcSlot, slot, data, capacity);
            shmlane_status::Ok
        }
        Err(error) => error_status(error),
    }
}

/// Reserves the next slot, waiting up to `timeout_ns` nanoseconds for one
/// (`SHMLANE_FOREVER`, or any negative value: no limit) as the handle's wait
/// strategy says. As `shmlane_producer_try_reserve`, with
/// `SHMLANE_STATUS_TIMEOUT` instead of `SHMLANE_STATUS_FULL`.
///
/// # Safety
/// As `shmlane_producer_try_reserve`.
#[no_mangle]
pub unsafe extern "C" fn shmlane_producer_reserve(
    producer: *mut shmlane_producer_t,
    timeout_ns: i64,
    data: *mut *mut u8,
    capacity: *mut usize,
) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        let (handle, data, capacity) = unsafe {
            (
                producer_arg(producer)?,
                out_arg(data, "data")?,
                out_arg(capacity, "capacity")?,
            )
        };
        let timeout = timeout_arg(timeout_ns);
        match handle.idle_producer()? {
            Producer::Spsc(p) => {
                *data = p.reserve_unguarded(timeout)?.as_ptr();
                *capacity = handle.max_payload;
                handle.lend_spsc_slot();
            }
            Producer::Mpmc(p) => {
                lend_slot!(handle.lent, MpmcSlot, p.reserve(timeout)?, data, capacity)
            }
        }
        Ok(())
    })
}

/// Publishes the first `len` bytes of the reserved slot as one message.
///
/// `SHMLANE_STATUS_MESSAGE_TOO_LARGE` when `len` exceeds the maximum payload,
/// `SHMLANE_STATUS_WRONG_MESSAGE_SIZE` when a fixed-size ring's message is
/// not exactly its size: nothing is published, and the slot is given up (as
/// by `shmlane_producer_abort`). `SHMLANE_STATUS_NOTHING_PENDING` when no
/// single slot is reserved (a batch is committed with
/// `shmlane_producer_batch_commit`).
///
/// # Safety
/// `producer` is a live handle, not used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn shmlane_producer_commit(
    producer: *mut shmlane_producer_t,
    len: usize,
) -> shmlane_status {
    entry_status(|| {
        // SAFETY: the caller's contract above.
        let Some(handle) = (unsafe { producer.as_mut() }) else {
            return null_argument("producer");
        };
        if !matches!(handle.lent, Lent::SpscSlot) {
            return commit_other(&mut handle.lent, len);
        }
        // A guardless slot has nothing to drop (see `lend_spsc_slot`).
        std::mem::forget(std::mem::replace(&mut handle.lent, Lent::Nothing));
        // SAFETY: nothing is lent any more (the guardless slot was the only
        // loan), so nothing else reaches the producer.
        let Producer::Spsc(p) = (unsafe { &mut *handle.producer.as_ptr() }) else {
            unreachable!("an SPSC slot is lent by an SPSC producer")
        };
        // SAFETY: `lent` said a slot was reserved by `try_reserve_unguarded` and
        // not committed; it is cleared above, so it is committed once. On an
        // error nothing is published, as `shmlane_producer_abort` would.
        match unsafe { p.commit_unguarded(len) } {
            Ok(()) => shmlane_status::Ok,
            Err(error) => error_status(error),
        }
    })
}

/// The rest of `shmlane_producer_commit`, out of line (see `mpmc_try_reserve`).
#[inline(never)]
fn commit_other(lent: &mut Lent, len: usize) -> shmlane_status {
    match std::mem::replace(lent, Lent::Nothing) {
        Lent::MpmcSlot(slot) => match slot.commit(len) {
            Ok(()) => shmlane_status::Ok,
            Err(error) => error_status(error),
        },
        other => {
            *lent = other;
            nothing_lent("commit").report()
        }
    }
}

/// Gives up the reserved slot or batch: consumers never see it.
/// `SHMLANE_STATUS_NOTHING_PENDING` when nothing is reserved.
///
/// # Safety
/// `producer` is a live handle, not used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn shmlane_producer_abort(
    producer: *mut shmlane_producer_t,
) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        let handle = unsafe { producer_arg(producer)? };
        match std::mem::replace(&mut handle.lent, Lent::Nothing) {
            Lent::Nothing => Err(nothing_lent("abort")),
            // Dropping the guard gives the slots up.
            _ => Ok(()),
        }
    })
}

/// Reserves up to `max` consecutive slots without waiting, to be published
/// together; `*count` receives how many (at least 1 on success, fewer than
/// `max` when fewer are free). Fill them through `shmlane_producer_batch_slot`
/// and `shmlane_producer_batch_set_len`, then `shmlane_producer_batch_commit`
/// (or `shmlane_producer_abort`). `max` of 0 gives an empty batch. Errors as
/// `shmlane_producer_try_reserve`.
///
/// # Safety
/// `producer` is a live handle, not used by another thread during the call;
/// `count` is valid for writing.
#[no_mangle]
pub unsafe extern "C" fn shmlane_producer_try_reserve_batch(
    producer: *mut shmlane_producer_t,
    max: usize,
    count: *mut usize,
) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        let (handle, count) = unsafe { (producer_arg(producer)?, out_arg(count, "count")?) };
        handle.lent = match handle.idle_producer()? {
            Producer::Spsc(p) => Lent::SpscBatch(p.try_reserve_batch(max)?),
            Producer::Mpmc(p) => Lent::MpmcBatch(p.try_reserve_batch(max)?),
        };
        *count = batch_len(&handle.lent);
        Ok(())
    })
}

/// As `shmlane_producer_try_reserve_batch`, waiting up to `timeout_ns` for at
/// least one free slot (negative: no limit).
///
/// # Safety
/// As `shmlane_producer_try_reserve_batch`.
#[no_mangle]
pub unsafe extern "C" fn shmlane_producer_reserve_batch(
    producer: *mut shmlane_producer_t,
    max: usize,
    timeout_ns: i64,
    count: *mut usize,
) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        let (handle, count) = unsafe { (producer_arg(producer)?, out_arg(count, "count")?) };
        let timeout = timeout_arg(timeout_ns);
        handle.lent = match handle.idle_producer()? {
            Producer::Spsc(p) => Lent::SpscBatch(p.reserve_batch(max, timeout)?),
            Producer::Mpmc(p) => Lent::MpmcBatch(p.reserve_batch(max, timeout)?),
        };
        *count = batch_len(&handle.lent);
        Ok(())
    })
}

fn batch_len(lent: &Lent) -> usize {
    match lent {
        Lent::SpscBatch(batch) => batch.len(),
        Lent::MpmcBatch(batch) => batch.len(),
        _ => 0,
    }
}

/// The reserved batch's slot `index`, checked against its length.
fn batch_index(lent: &Lent, index: usize) -> Result<(), Failure> {
    let len = match lent {
        Lent::SpscBatch(batch) => batch.len(),
        Lent::MpmcBatch(batch) => batch.len(),
        _ => return Err(nothing_lent("batch access")),
    };
    if index >= len {
        return Err(Failure::invalid(format!(
            "slot {index} is outside a batch of {len}"
        )));
    }
    Ok(())
}

/// Slot `index` of the reserved batch: `*data` points to its `*capacity` (=
/// max payload) bytes, writable until the batch is committed or aborted.
/// `SHMLANE_STATUS_INVALID_ARGUMENT` for an index outside the batch.
///
/// # Safety
/// `producer` is a live handle, not used by another thread during the call;
/// `data` and `capacity` are valid for writing.
#[no_mangle]
pub unsafe extern "C" fn shmlane_producer_batch_slot(
    producer: *mut shmlane_producer_t,
    index: usize,
    data: *mut *mut u8,
    capacity: *mut usize,
) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        let (handle, data, capacity) = unsafe {
            (
                producer_arg(producer)?,
                out_arg(data, "data")?,
                out_arg(capacity, "capacity")?,
            )
        };
        batch_index(&handle.lent, index)?;
        let slot = match &mut handle.lent {
            Lent::SpscBatch(batch) => batch.slot_mut(index),
            Lent::MpmcBatch(batch) => batch.slot_mut(index),
            _ => unreachable!("batch_index checked for a batch"),
        };
        *data = slot.as_mut_ptr();
        *capacity = slot.len();
        Ok(())
    })
}

/// Sets the length of the message in slot `index` of the reserved batch (0
/// until set; fixed-size rings need no length).
/// `SHMLANE_STATUS_MESSAGE_TOO_LARGE`, `SHMLANE_STATUS_WRONG_MESSAGE_SIZE`, or
/// `SHMLANE_STATUS_INVALID_ARGUMENT` for an index outside the batch.
///
/// # Safety
/// `producer` is a live handle, not used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn shmlane_producer_batch_set_len(
    producer: *mut shmlane_producer_t,
    index: usize,
    len: usize,
) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        let handle = unsafe { producer_arg(producer)? };
        batch_index(&handle.lent, index)?;
        match &mut handle.lent {
            Lent::SpscBatch(batch) => batch.set_len(index, len)?,
            Lent::MpmcBatch(batch) => batch.set_len(index, len)?,
            _ => unreachable!("batch_index checked for a batch"),
        }
        Ok(())
    })
}

/// Publishes the first `count` slots of the reserved batch (`SIZE_MAX` or any
/// count at least its length: all of them); the rest are given up.
/// `SHMLANE_STATUS_NOTHING_PENDING` when no batch is reserved.
///
/// # Safety
/// `producer` is a live handle, not used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn shmlane_producer_batch_commit(
    producer: *mut shmlane_producer_t,
    count: usize,
) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        let handle = unsafe { producer_arg(producer)? };
        match std::mem::replace(&mut handle.lent, Lent::Nothing) {
            Lent::SpscBatch(batch) => batch.commit_first(count),
            Lent::MpmcBatch(batch) => batch.commit_first(count),
            other => {
                handle.lent = other;
                return Err(nothing_lent("batch commit"));
            }
        }
        Ok(())
    })
}

/// The reserved batch's payload bytes as at most two contiguous runs, for a
/// fixed-size SPSC ring, whose consecutive slots are adjacent: `*first` and
/// `*first_len`, then `*second` and `*second_len` (length 0 unless the batch
/// wraps around the end of the ring). Message `i` of the batch is bytes
/// `i * max_payload ..` of the runs taken together. Valid until the batch is
/// committed or aborted. `SHMLANE_STATUS_WRONG_KIND` for other rings,
/// `SHMLANE_STATUS_NOTHING_PENDING` when no batch is reserved.
///
/// # Safety
/// `producer` is a live handle, not used by another thread during the call;
/// the four out-pointers are valid for writing.
#[no_mangle]
pub unsafe extern "C" fn shmlane_producer_batch_runs(
    producer: *mut shmlane_producer_t,
    first: *mut *mut u8,
    first_len: *mut usize,
    second: *mut *mut u8,
    second_len: *mut usize,
) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        let (handle, first, first_len, second, second_len) = unsafe {
            (
                producer_arg(producer)?,
                out_arg(first, "first")?,
                out_arg(first_len, "first_len")?,
                out_arg(second, "second")?,
                out_arg(second_len, "second_len")?,
            )
        };
        let runs = match &mut handle.lent {
            Lent::SpscBatch(batch) => batch.as_mut_slices(),
            Lent::MpmcBatch(_) => None,
            _ => return Err(nothing_lent("batch runs")),
        };
        let Some((head, tail)) = runs else {
            return Err(Failure::new(
                shmlane_status::WrongKind,
                "contiguous runs need a ring of fixed-size SPSC messages",
            ));
        };
        (*first, *first_len) = (head.as_mut_ptr(), head.len());
        (*second, *second_len) = (tail.as_mut_ptr(), tail.len());
        Ok(())
    })
}

/// The message bytes of a copying send.
///
/// # Safety
/// `data` is valid for reading `len` bytes, or `len` is 0.
unsafe fn message_arg<'a>(data: *const c_void, len: usize) -> Result<&'a [u8], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if data.is_null() {
        return Err(Failure::invalid("data is NULL"));
    }
    // SAFETY: non-null and valid for `len` bytes by the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) })
}

/// Copies `len` bytes from `data` into the next slot and publishes them,
/// without waiting. Errors as `shmlane_producer_try_reserve` and
/// `shmlane_producer_commit` (a message too large is refused before anything
/// is reserved).
///
/// # Safety
/// `producer` is a live handle, not used by another thread during the call;
/// `data` is valid for reading `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn shmlane_producer_try_send(
    producer: *mut shmlane_producer_t,
    data: *const c_void,
    len: usize,
) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        let (handle, message) = unsafe { (producer_arg(producer)?, message_arg(data, len)?) };
        match handle.idle_producer()? {
            Producer::Spsc(p) => p.try_send(message)?,
            Producer::Mpmc(p) => p.try_send(message)?,
        }
        Ok(())
    })
}

/// As `shmlane_producer_try_send`, waiting up to `timeout_ns` for a free slot
/// (negative: no limit); `SHMLANE_STATUS_TIMEOUT` instead of `SHMLANE_STATUS_FULL`.
///
/// # Safety
/// As `shmlane_producer_try_send`.
#[no_mangle]
pub unsafe extern "C" fn shmlane_producer_send(
    producer: *mut shmlane_producer_t,
    data: *const c_void,
    len: usize,
    timeout_ns: i64,
) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        let (handle, message) = unsafe { (producer_arg(producer)?, message_arg(data, len)?) };
        let timeout = timeout_arg(timeout_ns);
        match handle.idle_producer()? {
            Producer::Spsc(p) => p.send(message, timeout)?,
            Producer::Mpmc(p) => p.send(message, timeout)?,
        }
        Ok(())
    })
}

/// Sets how the handle's blocking calls wait.
///
/// # Safety
/// `producer` is a live handle, not used by another thread during the call;
/// `strategy` points to a strategy.
#[no_mangle]
pub unsafe extern "C" fn shmlane_producer_set_wait_strategy(
    producer: *mut shmlane_producer_t,
    strategy: *const shmlane_wait_strategy_t,
) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        let (handle, strategy) =
            unsafe { (producer_arg(producer)?, in_arg(strategy, "strategy")?) };
        let strategy = WaitStrategy::from(strategy);
        match handle.idle_producer()? {
            Producer::Spsc(p) => p.set_wait_strategy(strategy),
            Producer::Mpmc(p) => p.set_wait_strategy(strategy),
        }
        Ok(())
    })
}

/// Whether every consumer has closed or died: writes 1 or 0 to `*disconnected`.
///
/// # Safety
/// `producer` is a live handle, not used by another thread during the call;
/// `disconnected` is valid for writing.
#[no_mangle]
pub unsafe extern "C" fn shmlane_producer_is_disconnected(
    producer: *mut shmlane_producer_t,
    disconnected: *mut u8,
) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        let (handle, disconnected) = unsafe {
            (
                producer_arg(producer)?,
                out_arg(disconnected, "disconnected")?,
            )
        };
        *disconnected = u8::from(match handle.idle_producer()? {
            Producer::Spsc(p) => p.is_disconnected(),
            Producer::Mpmc(p) => p.is_disconnected(),
        });
        Ok(())
    })
}

/// Writes the handle's wait strategy to `*strategy`; `SHMLANE_STATUS_BUSY`
/// while the handle lends a slot or a message.
///
/// # Safety
/// `producer` is a live handle, not used by another thread during the call;
/// `strategy` is valid for writing.
#[no_mangle]
pub unsafe extern "C" fn shmlane_producer_wait_strategy(
    producer: *mut shmlane_producer_t,
    strategy: *mut shmlane_wait_strategy_t,
) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        let (handle, strategy) =
            unsafe { (producer_arg(producer)?, out_arg(strategy, "strategy")?) };
        *strategy = match handle.idle_producer()? {
            Producer::Spsc(h) => h.wait_strategy(),
            Producer::Mpmc(h) => h.wait_strategy(),
        }
        .into();
        Ok(())
    })
}
