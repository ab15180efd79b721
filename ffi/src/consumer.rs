//! Consumers: borrow messages in place and release them, one or a batch at a
//! time, or copy them out.
//!
//! The handle keeps the Rust guard of what it lent (a `ReadSlot` or
//! `ReadBatch`) next to the consumer the guard borrows (see `lending.rs` for
//! why that is sound). A guard is only ever dropped: that releases its slots.

use std::ffi::c_void;

use shmlane::{AnyKind, Error, ErrorKind, ReadBatch, ReadSlot, Reading};

use crate::lending::{nothing_lent, shared, Lender};
use crate::status::{entry, entry_status, error_status, null_argument, shmlane_status, Failure};
use crate::wait::shmlane_wait_strategy_t;
use crate::{out_arg, timeout_arg};

/// What a consumer lends to C.
pub(crate) enum Loan {
    // Kept only to be dropped: dropping it releases the message.
    #[allow(dead_code)]
    Message(ReadSlot<'static, AnyKind>),
    Batch(ReadBatch<'static, AnyKind>),
}

/// A consuming handle of a ring, SPSC or MPMC.
///
/// Made by `shmlane_consumer_open`, freed by `shmlane_consumer_close`. A
/// handle may move between threads but must not be used by two threads at
/// once.
pub struct shmlane_consumer_t(Lender<Reading, Loan>);

/// Borrows a consumer handle.
///
/// # Safety
/// `consumer` is NULL or a live handle not used by another thread right now.
#[inline]
unsafe fn consumer_arg<'a>(
    consumer: *mut shmlane_consumer_t,
) -> Result<&'a mut Lender<Reading, Loan>, Failure> {
    // SAFETY: the caller's contract above.
    Ok(&mut unsafe { out_arg(consumer, "consumer") }?.0)
}

/// Joins a ring as a consumer. On an SPSC ring, `SHMLANE_STATUS_ROLE_TAKEN`
/// while another consumer lives; on an MPMC ring,
/// `SHMLANE_STATUS_TOO_MANY_PARTICIPANTS` when every record is held. A
/// broadcast ring is refused (`SHMLANE_STATUS_WRONG_KIND`): it has
/// subscribers, `shmlane_subscriber_t`. Free the handle with
/// `shmlane_consumer_close`. Thread-safe.
///
/// # Safety
/// `ring` is a live ring handle; `out` is valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn shmlane_consumer_open(
    ring: *const crate::shmlane_ring_t,
    out: *mut *mut shmlane_consumer_t,
) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        unsafe { shared::open(ring, out, |ring| Lender::join(ring).map(shmlane_consumer_t)) }
            .map_err(Failure::broadcast_hint)
    })
}

/// Releases any borrowed message, leaves the ring and frees the handle. NULL
/// is ignored.
///
/// # Safety
/// `consumer` is NULL or a live handle; it is invalid afterwards.
#[no_mangle]
pub unsafe extern "C" fn shmlane_consumer_close(consumer: *mut shmlane_consumer_t) {
    // SAFETY: the caller's contract above.
    unsafe { shared::close(consumer) }
}

/// The largest message the consumer's ring carries; 0 for NULL.
///
/// # Safety
/// `consumer` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn shmlane_consumer_max_payload(
    consumer: *const shmlane_consumer_t,
) -> usize {
    // SAFETY: the caller's contract above.
    unsafe { consumer.as_ref() }.map_or(0, |c| c.0.max_payload)
}

/// The number of slots of the consumer's ring; 0 for NULL.
///
/// # Safety
/// `consumer` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn shmlane_consumer_capacity(consumer: *const shmlane_consumer_t) -> usize {
    // SAFETY: the caller's contract above.
    unsafe { consumer.as_ref() }.map_or(0, |c| c.0.capacity)
}

/// Hands a borrowed message to C and keeps its guard.
#[inline(always)]
fn lend_message(
    lender: &mut Lender<Reading, Loan>,
    message: ReadSlot<'static, AnyKind>,
    data: &mut *const u8,
    len: &mut usize,
) {
    (*data, *len) = (message.as_ptr(), message.len());
    lender.lend(Loan::Message(message));
}

/// Borrows the next message in place without waiting: `*data` points to its
/// `*len` bytes, readable until `shmlane_consumer_release`.
///
/// `SHMLANE_STATUS_EMPTY` when no message is there;
/// `SHMLANE_STATUS_DISCONNECTED` when the ring is drained and every producer
/// has closed or died; `SHMLANE_STATUS_CORRUPT` when shared memory holds an
/// impossible position or length (a message with an impossible length is
/// skipped); `SHMLANE_STATUS_BUSY` while a message or batch is borrowed.
///
/// # Safety
/// `consumer` is a live handle, not used by another thread during the call;
/// `data` and `len` are valid for writing.
#[no_mangle]
pub unsafe extern "C" fn shmlane_consumer_try_read(
    consumer: *mut shmlane_consumer_t,
    data: *mut *const u8,
    len: *mut usize,
) -> shmlane_status {
    entry_status(|| {
        // SAFETY: the caller's contract above.
        let (Some(handle), Some(data), Some(len)) =
            (unsafe { (consumer.as_mut(), data.as_mut(), len.as_mut()) })
        else {
            return null_argument("consumer, data or len");
        };
        handle.0.try_lend(
            |handle| handle.try_read(),
            |lender, found| lend_message(lender, found, data, len),
            shmlane_status::Empty,
        )
    })
}

/// Borrows the next message, waiting up to `timeout_ns` nanoseconds for one
/// (negative: no limit) as the handle's wait strategy says. As
/// `shmlane_consumer_try_read`, with `SHMLANE_STATUS_TIMEOUT` instead of
/// `SHMLANE_STATUS_EMPTY`.
///
/// # Safety
/// As `shmlane_consumer_try_read`.
#[no_mangle]
pub unsafe extern "C" fn shmlane_consumer_read(
    consumer: *mut shmlane_consumer_t,
    timeout_ns: i64,
    data: *mut *const u8,
    len: *mut usize,
) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        let (lender, data, len) = unsafe {
            (
                consumer_arg(consumer)?,
                out_arg(data, "data")?,
                out_arg(len, "len")?,
            )
        };
        match lender.idle()?.read(timeout_arg(timeout_ns))? {
            Some(message) => lend_message(lender, message, data, len),
            None => return Err(Failure::timeout()),
        }
        Ok(())
    })
}

/// Releases the borrowed message or batch: its slots go back to the
/// producers, and the pointers lent for it are invalid.
/// `SHMLANE_STATUS_NOTHING_PENDING` when nothing is borrowed.
///
/// # Safety
/// `consumer` is a live handle, not used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn shmlane_consumer_release(
    consumer: *mut shmlane_consumer_t,
) -> shmlane_status {
    entry_status(|| {
        // SAFETY: the caller's contract above.
        let Some(handle) = (unsafe { consumer.as_mut() }) else {
            return null_argument("consumer");
        };
        // Dropping the guard releases its slots (each kind of loan by its
        // own drop, inline, rather than through the enum's drop glue).
        match handle.0.lent.take() {
            Some(Loan::Message(message)) => {
                message.release();
                shmlane_status::Ok
            }
            Some(Loan::Batch(batch)) => {
                drop(batch);
                shmlane_status::Ok
            }
            None => nothing_lent("release").report(),
        }
    })
}

/// Borrows up to `max` consecutive messages without waiting; `*count`
/// receives how many (at least 1 on success). Read them with
/// `shmlane_consumer_batch_message`, then `shmlane_consumer_release` them
/// together. `max` of 0 gives an empty batch. Errors as
/// `shmlane_consumer_try_read`.
///
/// # Safety
/// `consumer` is a live handle, not used by another thread during the call;
/// `count` is valid for writing.
#[no_mangle]
pub unsafe extern "C" fn shmlane_consumer_try_read_batch(
    consumer: *mut shmlane_consumer_t,
    max: usize,
    count: *mut usize,
) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        let (lender, count) = unsafe { (consumer_arg(consumer)?, out_arg(count, "count")?) };
        let batch = lender.idle()?.try_read_batch(max)?;
        let len = batch.len();
        lender.lend_batch(
            Loan::Batch(batch),
            len,
            max,
            false,
            shmlane_status::Empty,
            count,
        )
    })
}

/// As `shmlane_consumer_try_read_batch`, waiting up to `timeout_ns` for at
/// least one message (negative: no limit).
///
/// # Safety
/// As `shmlane_consumer_try_read_batch`.
#[no_mangle]
pub unsafe extern "C" fn shmlane_consumer_read_batch(
    consumer: *mut shmlane_consumer_t,
    max: usize,
    timeout_ns: i64,
    count: *mut usize,
) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        let (lender, count) = unsafe { (consumer_arg(consumer)?, out_arg(count, "count")?) };
        let batch = lender.idle()?.read_batch(max, timeout_arg(timeout_ns))?;
        let len = batch.len();
        lender.lend_batch(
            Loan::Batch(batch),
            len,
            max,
            true,
            shmlane_status::Empty,
            count,
        )
    })
}

/// The borrowed batch, if any.
fn lent_batch<'a>(
    lent: &'a Option<Loan>,
    what: &str,
) -> Result<&'a ReadBatch<'static, AnyKind>, Failure> {
    match lent {
        Some(Loan::Batch(batch)) => Ok(batch),
        _ => Err(nothing_lent(what)),
    }
}

/// Message `index` of the borrowed batch: `*data` points to its `*len` bytes,
/// readable until the batch is released. `SHMLANE_STATUS_INVALID_ARGUMENT`
/// for an index outside the batch; `SHMLANE_STATUS_NOTHING_PENDING` when no
/// batch is borrowed.
///
/// # Safety
/// `consumer` is a live handle, not used by another thread during the call;
/// `data` and `len` are valid for writing.
#[no_mangle]
pub unsafe extern "C" fn shmlane_consumer_batch_message(
    consumer: *mut shmlane_consumer_t,
    index: usize,
    data: *mut *const u8,
    len: *mut usize,
) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        let (lender, data, len) = unsafe {
            (
                consumer_arg(consumer)?,
                out_arg(data, "data")?,
                out_arg(len, "len")?,
            )
        };
        let batch = lent_batch(&lender.lent, "batch access")?;
        if index >= batch.len() {
            return Err(Failure::invalid(format!(
                "message {index} is outside a batch of {}",
                batch.len()
            )));
        }
        let message = batch.get(index);
        (*data, *len) = (message.as_ptr(), message.len());
        Ok(())
    })
}

/// The borrowed batch's messages as at most two contiguous byte runs, for a
/// fixed-size SPSC ring: `*first`/`*first_len`, then `*second`/`*second_len`
/// (length 0 unless the batch wraps around the end of the ring). Message `i`
/// is bytes `i * max_payload ..` of the runs taken together. Valid until the
/// batch is released. `SHMLANE_STATUS_WRONG_KIND` for other rings,
/// `SHMLANE_STATUS_NOTHING_PENDING` when no batch is borrowed.
///
/// # Safety
/// `consumer` is a live handle, not used by another thread during the call;
/// the four out-pointers are valid for writing.
#[no_mangle]
pub unsafe extern "C" fn shmlane_consumer_batch_runs(
    consumer: *mut shmlane_consumer_t,
    first: *mut *const u8,
    first_len: *mut usize,
    second: *mut *const u8,
    second_len: *mut usize,
) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        let (lender, first, first_len, second, second_len) = unsafe {
            (
                consumer_arg(consumer)?,
                out_arg(first, "first")?,
                out_arg(first_len, "first_len")?,
                out_arg(second, "second")?,
                out_arg(second_len, "second_len")?,
            )
        };
        let runs = lent_batch(&lender.lent, "batch runs")?.as_slices();
        let Some((head, tail)) = runs else {
            return Err(Failure::new(
                shmlane_status::WrongKind,
                "contiguous runs need a ring of fixed-size SPSC messages",
            ));
        };
        (*first, *first_len) = (head.as_ptr(), head.len());
        (*second, *second_len) = (tail.as_ptr(), tail.len());
        Ok(())
    })
}

/// Copies the next message into `buffer` (`capacity` bytes) and releases its
/// slot, without waiting; `*len` receives its length.
/// `SHMLANE_STATUS_BUFFER_TOO_SMALL` when it does not fit: `*len` then
/// receives the length needed, and the message stays for the next read.
/// Otherwise as `shmlane_consumer_try_read`.
///
/// # Safety
/// `consumer` is a live handle, not used by another thread during the call;
/// `buffer` is valid for writing `capacity` bytes (or `capacity` is 0); `len`
/// is valid for writing.
#[no_mangle]
pub unsafe extern "C" fn shmlane_consumer_try_recv(
    consumer: *mut shmlane_consumer_t,
    buffer: *mut c_void,
    capacity: usize,
    len: *mut usize,
) -> shmlane_status {
    // The per-message path, in statuses (as `shmlane_consumer_try_read`).
    entry_status(|| {
        // SAFETY: the caller's contract above.
        let (Some(handle), Some(len)) = (unsafe { (consumer.as_mut(), len.as_mut()) }) else {
            return null_argument("consumer or len");
        };
        if buffer.is_null() && capacity != 0 {
            return null_argument("buffer");
        }
        let buffer = if capacity == 0 {
            &mut [][..]
        } else {
            // SAFETY: non-null and valid for writing `capacity` bytes by the
            // caller's contract.
            unsafe { std::slice::from_raw_parts_mut(buffer.cast::<u8>(), capacity) }
        };
        let consumer = match handle.0.idle_or_busy() {
            Ok(consumer) => consumer,
            Err(busy) => return busy,
        };
        match consumer.try_recv(buffer) {
            Ok(Some(received)) => {
                *len = received;
                shmlane_status::Ok
            }
            Ok(None) => shmlane_status::Empty,
            Err(error) => recv_failed(error, len),
        }
    })
}

/// A failed receive's status; a BufferTooSmall one tells C through `len`
/// the length it needs.
#[cold]
#[inline(never)]
fn recv_failed(error: Error, len: &mut usize) -> shmlane_status {
    if let (ErrorKind::BufferTooSmall, Some((needed, _))) = (error.kind(), error.sizes()) {
        *len = needed as usize;
    }
    error_status(error)
}

/// As `shmlane_consumer_try_recv`, waiting up to `timeout_ns` for a message
/// (negative: no limit); `SHMLANE_STATUS_TIMEOUT` instead of `SHMLANE_STATUS_EMPTY`.
///
/// # Safety
/// As `shmlane_consumer_try_recv`.
#[no_mangle]
pub unsafe extern "C" fn shmlane_consumer_recv(
    consumer: *mut shmlane_consumer_t,
    buffer: *mut c_void,
    capacity: usize,
    timeout_ns: i64,
    len: *mut usize,
) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        let (lender, buffer, len) = unsafe {
            (
                consumer_arg(consumer)?,
                buffer_arg(buffer, capacity)?,
                out_arg(len, "len")?,
            )
        };
        let received = lender.idle()?.recv(buffer, timeout_arg(timeout_ns));
        *len = received_len(received, len, Failure::timeout())?;
        Ok(())
    })
}

/// The length received, `nothing` when there was no message, or the
/// failure; for a buffer too small, the length needed goes to `*len` first.
fn received_len(
    received: Result<Option<usize>, Error>,
    len: &mut usize,
    nothing: Failure,
) -> Result<usize, Failure> {
    match received {
        Ok(Some(received)) => Ok(received),
        Ok(None) => Err(nothing),
        Err(error) => {
            if let (ErrorKind::BufferTooSmall, Some((needed, _))) = (error.kind(), error.sizes()) {
                *len = needed as usize;
            }
            Err(error.into())
        }
    }
}

/// The receive buffer.
///
/// # Safety
/// `buffer` is valid for writing `capacity` bytes, or `capacity` is 0.
unsafe fn buffer_arg<'a>(buffer: *mut c_void, capacity: usize) -> Result<&'a mut [u8], Failure> {
    if capacity == 0 {
        return Ok(&mut []);
    }
    if buffer.is_null() {
        return Err(Failure::invalid("buffer is NULL"));
    }
    // SAFETY: non-null and valid for `capacity` bytes by the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts_mut(buffer.cast::<u8>(), capacity) })
}

/// Sets how the handle's blocking calls wait.
///
/// # Safety
/// `consumer` is a live handle, not used by another thread during the call;
/// `strategy` points to a strategy.
#[no_mangle]
pub unsafe extern "C" fn shmlane_consumer_set_wait_strategy(
    consumer: *mut shmlane_consumer_t,
    strategy: *const shmlane_wait_strategy_t,
) -> shmlane_status {
    // SAFETY: the caller's contract above.
    entry(|| unsafe { shared::set_wait_strategy(consumer_arg(consumer)?, strategy) })
}

/// Whether every producer has closed or died: writes 1 or 0 to
/// `*disconnected`. Messages may still be waiting in the ring.
///
/// # Safety
/// `consumer` is a live handle, not used by another thread during the call;
/// `disconnected` is valid for writing.
#[no_mangle]
pub unsafe extern "C" fn shmlane_consumer_is_disconnected(
    consumer: *mut shmlane_consumer_t,
    disconnected: *mut u8,
) -> shmlane_status {
    // SAFETY: the caller's contract above.
    entry(|| unsafe { shared::is_disconnected(consumer_arg(consumer)?, disconnected) })
}

/// Writes the handle's wait strategy to `*strategy`; `SHMLANE_STATUS_BUSY`
/// while the handle lends a slot or a message.
///
/// # Safety
/// `consumer` is a live handle, not used by another thread during the call;
/// `strategy` is valid for writing.
#[no_mangle]
pub unsafe extern "C" fn shmlane_consumer_wait_strategy(
    consumer: *mut shmlane_consumer_t,
    strategy: *mut shmlane_wait_strategy_t,
) -> shmlane_status {
    // SAFETY: the caller's contract above.
    entry(|| unsafe { shared::wait_strategy(consumer_arg(consumer)?, strategy) })
}
