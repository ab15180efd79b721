//! Producers: reserve slots in place and commit them, one or a batch at a time.
//!
//! The handle keeps the Rust guard of the slot or batch it lent next to the
//! producer the guard borrows (see `lending.rs` for why that is sound).

use std::ffi::c_void;

use shmlane::{AnyKind, WriteBatch, WriteSlot, Writing};

use crate::lending::{nothing_lent, shared, Lender};
use crate::status::{entry, entry_status, error_status, null_argument, shmlane_status, Failure};
use crate::wait::shmlane_wait_strategy_t;
use crate::{out_arg, timeout_arg};

/// What a producer lends to C.
pub(crate) enum Loan {
    Slot(WriteSlot<'static, AnyKind>),
    Batch(WriteBatch<'static, AnyKind>),
}

/// A producing handle of a ring, SPSC or MPMC.
///
/// Made by `shmlane_producer_open`, freed by `shmlane_producer_close`. A
/// handle may move between threads but must not be used by two threads at
/// once: give each producing thread its own handle (MPMC) or serialize.
pub struct shmlane_producer_t(Lender<Writing, Loan>);

/// Borrows a producer handle.
///
/// # Safety
/// `producer` is NULL or a live handle not used by another thread right now.
#[inline]
unsafe fn producer_arg<'a>(
    producer: *mut shmlane_producer_t,
) -> Result<&'a mut Lender<Writing, Loan>, Failure> {
    // SAFETY: the caller's contract above.
    Ok(&mut unsafe { out_arg(producer, "producer") }?.0)
}

/// Joins a ring as a producer. On an SPSC ring, `SHMLANE_STATUS_ROLE_TAKEN`
/// while another producer lives; on an MPMC ring,
/// `SHMLANE_STATUS_TOO_MANY_PARTICIPANTS` when every record is held. A
/// producer that died is taken over. A broadcast ring is refused
/// (`SHMLANE_STATUS_WRONG_KIND`): its producer is a
/// `shmlane_broadcast_producer_t`. Free the handle with
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
        unsafe { shared::open(ring, out, |ring| Lender::join(ring).map(shmlane_producer_t)) }
            .map_err(Failure::broadcast_hint)
    })
}

/// Leaves the ring and frees the handle. A reserved, uncommitted slot is
/// given up (never seen by consumers). NULL is ignored.
///
/// # Safety
/// `producer` is NULL or a live handle; it is invalid afterwards.
#[no_mangle]
pub unsafe extern "C" fn shmlane_producer_close(producer: *mut shmlane_producer_t) {
    // SAFETY: the caller's contract above.
    unsafe { shared::close(producer) }
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
    unsafe { producer.as_ref() }.map_or(0, |p| p.0.max_payload)
}

/// The number of slots of the producer's ring; 0 for NULL.
///
/// # Safety
/// `producer` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn shmlane_producer_capacity(producer: *const shmlane_producer_t) -> usize {
    // SAFETY: the caller's contract above.
    unsafe { producer.as_ref() }.map_or(0, |p| p.0.capacity)
}

/// Hands a reserved slot's payload to C and keeps its guard.
#[inline(always)]
fn lend_slot(
    lender: &mut Lender<Writing, Loan>,
    mut slot: WriteSlot<'static, AnyKind>,
    data: &mut *mut u8,
    capacity: &mut usize,
) {
    (*data, *capacity) = (slot.as_mut_ptr(), slot.len());
    lender.lend(Loan::Slot(slot));
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
        handle.0.try_lend(
            |handle| handle.try_reserve(),
            |lender, found| lend_slot(lender, found, data, capacity),
            shmlane_status::Full,
        )
    })
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
        let (lender, data, capacity) = unsafe {
            (
                producer_arg(producer)?,
                out_arg(data, "data")?,
                out_arg(capacity, "capacity")?,
            )
        };
        match lender.idle()?.reserve(timeout_arg(timeout_ns))? {
            Some(slot) => lend_slot(lender, slot, data, capacity),
            None => return Err(Failure::timeout()),
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
        match handle.0.lent.take() {
            Some(Loan::Slot(slot)) => match slot.commit(len) {
                Ok(()) => shmlane_status::Ok,
                Err(error) => error_status(error),
            },
            other => {
                handle.0.lent = other;
                nothing_lent("commit").report()
            }
        }
    })
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
        let lender = unsafe { producer_arg(producer)? };
        // Dropping the guard gives the slots up.
        lender
            .lent
            .take()
            .map(drop)
            .ok_or_else(|| nothing_lent("abort"))
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
        let (lender, count) = unsafe { (producer_arg(producer)?, out_arg(count, "count")?) };
        let batch = lender.idle()?.try_reserve_batch(max)?;
        let len = batch.len();
        lender.lend_batch(
            Loan::Batch(batch),
            len,
            max,
            false,
            shmlane_status::Full,
            count,
        )
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
        let (lender, count) = unsafe { (producer_arg(producer)?, out_arg(count, "count")?) };
        let batch = lender.idle()?.reserve_batch(max, timeout_arg(timeout_ns))?;
        let len = batch.len();
        lender.lend_batch(
            Loan::Batch(batch),
            len,
            max,
            true,
            shmlane_status::Full,
            count,
        )
    })
}

/// The reserved batch, with slot `index` checked against its length.
fn batch_at(
    lent: &mut Option<Loan>,
    index: usize,
) -> Result<&mut WriteBatch<'static, AnyKind>, Failure> {
    let Some(Loan::Batch(batch)) = lent else {
        return Err(nothing_lent("batch access"));
    };
    if index >= batch.len() {
        return Err(Failure::invalid(format!(
            "slot {index} is outside a batch of {}",
            batch.len()
        )));
    }
    Ok(batch)
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
        let (lender, data, capacity) = unsafe {
            (
                producer_arg(producer)?,
                out_arg(data, "data")?,
                out_arg(capacity, "capacity")?,
            )
        };
        let slot = batch_at(&mut lender.lent, index)?.slot_mut(index);
        (*data, *capacity) = (slot.as_mut_ptr(), slot.len());
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
        let lender = unsafe { producer_arg(producer)? };
        batch_at(&mut lender.lent, index)?.set_len(index, len)?;
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
        let lender = unsafe { producer_arg(producer)? };
        match lender.lent.take() {
            Some(Loan::Batch(batch)) => batch.commit_first(count),
            other => {
                lender.lent = other;
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
        let (lender, first, first_len, second, second_len) = unsafe {
            (
                producer_arg(producer)?,
                out_arg(first, "first")?,
                out_arg(first_len, "first_len")?,
                out_arg(second, "second")?,
                out_arg(second_len, "second_len")?,
            )
        };
        let Some(Loan::Batch(batch)) = &mut lender.lent else {
            return Err(nothing_lent("batch runs"));
        };
        let Some((head, tail)) = batch.as_mut_slices() else {
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
    // The per-message path, in statuses (as `shmlane_producer_try_reserve`).
    entry_status(|| {
        // SAFETY: the caller's contract above.
        let Some(handle) = (unsafe { producer.as_mut() }) else {
            return null_argument("producer");
        };
        if data.is_null() && len != 0 {
            return null_argument("data");
        }
        let message = if len == 0 {
            &[][..]
        } else {
            // SAFETY: non-null and valid for `len` bytes by the caller's contract.
            unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) }
        };
        let producer = match handle.0.idle_or_busy() {
            Ok(producer) => producer,
            Err(busy) => return busy,
        };
        match producer.try_send(message) {
            Ok(true) => shmlane_status::Ok,
            Ok(false) => shmlane_status::Full,
            Err(error) => error_status(error),
        }
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
        let (lender, message) = unsafe { (producer_arg(producer)?, message_arg(data, len)?) };
        if !lender.idle()?.send(message, timeout_arg(timeout_ns))? {
            return Err(Failure::timeout());
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
    // SAFETY: the caller's contract above.
    entry(|| unsafe { shared::set_wait_strategy(producer_arg(producer)?, strategy) })
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
    // SAFETY: the caller's contract above.
    entry(|| unsafe { shared::is_disconnected(producer_arg(producer)?, disconnected) })
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
    // SAFETY: the caller's contract above.
    entry(|| unsafe { shared::wait_strategy(producer_arg(producer)?, strategy) })
}
