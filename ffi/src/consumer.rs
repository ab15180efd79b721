//! Consumers: borrow messages in place and release them, one or a batch at a
//! time, or copy them out.
//!
//! The handle keeps the Rust guard of what it lent (a `ReadSlot` or
//! `ReadBatch`) next to the consumer the guard borrows, as producers do (see
//! `producer.rs` for why that is sound).

use std::ffi::c_void;
use std::ptr::NonNull;

use shmlane::{mpmc, spsc, Error, Kind, WaitStrategy};

use crate::ring::ring_arg;
use crate::status::{entry, entry_status, error_status, null_argument, shmlane_status, Failure};
use crate::wait::shmlane_wait_strategy_t;
use crate::{in_arg, out_arg, timeout_arg};

/// The consumer of either kind.
enum Consumer {
    Spsc(spsc::Consumer),
    Mpmc(mpmc::Consumer),
}

/// What the handle has lent to C. A message guard is only ever dropped: that
/// releases its slot.
#[allow(dead_code)]
enum Lent {
    Nothing,
    /// An SPSC message borrowed without a guard (`try_read_unguarded`).
    SpscMessage,
    MpmcMessage(mpmc::ReadSlot<'static>),
    SpscBatch(spsc::ReadBatch<'static>),
    MpmcBatch(mpmc::ReadBatch<'static>),
}

/// A consuming handle of a ring, SPSC or MPMC.
///
/// Made by `shmlane_consumer_open`, freed by `shmlane_consumer_close`. A
/// handle may move between threads but must not be used by two threads at
/// once.
pub struct shmlane_consumer_t {
    /// Declared first: dropped before `consumer`, which it may borrow.
    lent: Lent,
    consumer: NonNull<Consumer>,
    max_payload: usize,
    capacity: usize,
}

impl Drop for shmlane_consumer_t {
    fn drop(&mut self) {
        // A borrowed message is released.
        if let Lent::SpscMessage = std::mem::replace(&mut self.lent, Lent::Nothing) {
            if let Ok(Consumer::Spsc(c)) = self.idle_consumer() {
                // SAFETY: the message was borrowed and not released, and C
                // gives the handle up with it.
                unsafe { c.release_unguarded() };
            }
        }
        // SAFETY: made by `Box::into_raw` in `shmlane_consumer_open`; no guard
        // borrows it any more, and it is freed once, here.
        drop(unsafe { Box::from_raw(self.consumer.as_ptr()) });
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
        "the consumer holds a borrowed message or batch: release it first",
    )
}

impl shmlane_consumer_t {
    /// Records a guardless SPSC message as lent. Nothing was lent before (the
    /// caller checked), so the old value needs no drop: forgetting it spares
    /// the hot path the drop glue of every guard type.
    #[inline(always)]
    fn lend_spsc_message(&mut self) {
        let previous = std::mem::replace(&mut self.lent, Lent::SpscMessage);
        debug_assert!(matches!(previous, Lent::Nothing));
        std::mem::forget(previous);
    }

    /// The consumer, if nothing is lent (a guard would borrow it).
    #[inline]
    fn idle_consumer(&mut self) -> Result<&'static mut Consumer, Failure> {
        if !matches!(self.lent, Lent::Nothing) {
            return Err(busy());
        }
        // SAFETY: as in `shmlane_producer_t::idle_producer`: the allocation
        // outlives every guard made from this reference, and nothing else
        // reaches the consumer while one is kept.
        Ok(unsafe { &mut *self.consumer.as_ptr() })
    }
}

/// Borrows a consumer handle.
///
/// # Safety
/// `consumer` is NULL or a live handle not used by another thread right now.
#[inline]
unsafe fn consumer_arg<'a>(
    consumer: *mut shmlane_consumer_t,
) -> Result<&'a mut shmlane_consumer_t, Failure> {
    // SAFETY: the caller's contract above.
    unsafe { out_arg(consumer, "consumer") }
}

/// Joins a ring as a consumer. On an SPSC ring, `SHMLANE_STATUS_ROLE_TAKEN`
/// while another consumer lives; on an MPMC ring,
/// `SHMLANE_STATUS_TOO_MANY_PARTICIPANTS` when every record is held. Free the
/// handle with `shmlane_consumer_close`. Thread-safe.
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
        let (ring, out) = unsafe { (ring_arg(ring)?, out_arg(out, "out")?) };
        let consumer = match ring.kind() {
            Kind::Spsc => Consumer::Spsc(spsc::Consumer::join(ring)?),
            _ => Consumer::Mpmc(mpmc::Consumer::join(ring)?),
        };
        let handle = shmlane_consumer_t {
            lent: Lent::Nothing,
            consumer: NonNull::from(Box::leak(Box::new(consumer))),
            max_payload: ring.max_payload(),
            capacity: ring.geometry().capacity as usize,
        };
        *out = Box::into_raw(Box::new(handle));
        Ok(())
    })
}

/// Releases any borrowed message, leaves the ring and frees the handle. NULL
/// is ignored.
///
/// # Safety
/// `consumer` is NULL or a live handle; it is invalid afterwards.
#[no_mangle]
pub unsafe extern "C" fn shmlane_consumer_close(consumer: *mut shmlane_consumer_t) {
    if !consumer.is_null() {
        let _ = std::panic::catch_unwind(|| {
            // SAFETY: made by `Box::into_raw` in `shmlane_consumer_open`, not closed before.
            drop(unsafe { Box::from_raw(consumer) });
        });
    }
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
    unsafe { consumer.as_ref() }.map_or(0, |c| c.max_payload)
}

/// The number of slots of the consumer's ring; 0 for NULL.
///
/// # Safety
/// `consumer` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn shmlane_consumer_capacity(consumer: *const shmlane_consumer_t) -> usize {
    // SAFETY: the caller's contract above.
    unsafe { consumer.as_ref() }.map_or(0, |c| c.capacity)
}

/// Hands a borrowed message to C and keeps its guard.
macro_rules! lend_message {
    ($lent:expr, $variant:ident, $message:expr, $data:expr, $len:expr) => {{
        let message = $message;
        *$data = message.as_ptr();
        *$len = message.len();
        $lent = Lent::$variant(message);
    }};
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
        if !matches!(handle.lent, Lent::Nothing) {
            return busy_status();
        }
        // SAFETY: nothing is lent (checked above), so no guard borrows the consumer.
        match unsafe { &mut *handle.consumer.as_ptr() } {
            Consumer::Spsc(c) => match c.try_read_unguarded() {
                Ok((message, message_len)) => {
                    (*data, *len) = (message.as_ptr().cast_const(), message_len);
                    handle.lend_spsc_message();
                }
                Err(error) => return error_status(error),
            },
            Consumer::Mpmc(c) => return mpmc_try_read(&mut handle.lent, c, data, len),
        }
        shmlane_status::Ok
    })
}

/// The MPMC half of `shmlane_consumer_try_read`, out of line (see
/// `mpmc_try_reserve` in producer.rs).
#[inline(never)]
fn mpmc_try_read(
    lent: &mut Lent,
    consumer: &'static mut mpmc::Consumer,
    data: &mut *const u8,
    len: &mut usize,
) -> shmlane_status {
    match consumer.try_read() {
        Ok(message) => {
            lend_message!(*lent, MpmcMessage, message, data, len);
            shmlane_status::Ok
        }
        Err(error) => error_status(error),
    }
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
        let (handle, data, len) = unsafe {
            (
                consumer_arg(consumer)?,
                out_arg(data, "data")?,
                out_arg(len, "len")?,
            )
        };
        let timeout = timeout_arg(timeout_ns);
        match handle.idle_consumer()? {
            Consumer::Spsc(c) => {
                let (message, message_len) = c.read_unguarded(timeout)?;
                (*data, *len) = (message.as_ptr().cast_const(), message_len);
                handle.lend_spsc_message();
            }
            Consumer::Mpmc(c) => {
                lend_message!(handle.lent, MpmcMessage, c.read(timeout)?, data, len)
            }
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
        if !matches!(handle.lent, Lent::SpscMessage) {
            return release_other(&mut handle.lent);
        }
        // A guardless message has nothing to drop.
        std::mem::forget(std::mem::replace(&mut handle.lent, Lent::Nothing));
        // SAFETY: nothing is lent any more, so nothing else reaches the consumer.
        let Consumer::Spsc(c) = (unsafe { &mut *handle.consumer.as_ptr() }) else {
            unreachable!("an SPSC message is lent by an SPSC consumer")
        };
        // SAFETY: `lent` said a message was borrowed by `try_read_unguarded`
        // and not released; it is cleared above, so it is released once.
        unsafe { c.release_unguarded() };
        shmlane_status::Ok
    })
}

/// The rest of `shmlane_consumer_release`, out of line (see
/// `mpmc_try_reserve` in producer.rs): dropping a guard releases its slots.
#[inline(never)]
fn release_other(lent: &mut Lent) -> shmlane_status {
    match std::mem::replace(lent, Lent::Nothing) {
        Lent::Nothing => Failure::new(
            shmlane_status::NothingPending,
            "release: no message is borrowed",
        )
        .report(),
        guard => {
            drop(guard);
            shmlane_status::Ok
        }
    }
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
        let (handle, count) = unsafe { (consumer_arg(consumer)?, out_arg(count, "count")?) };
        handle.lent = match handle.idle_consumer()? {
            Consumer::Spsc(c) => Lent::SpscBatch(c.try_read_batch(max)?),
            Consumer::Mpmc(c) => Lent::MpmcBatch(c.try_read_batch(max)?),
        };
        *count = batch_len(&handle.lent);
        Ok(())
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
        let (handle, count) = unsafe { (consumer_arg(consumer)?, out_arg(count, "count")?) };
        let timeout = timeout_arg(timeout_ns);
        handle.lent = match handle.idle_consumer()? {
            Consumer::Spsc(c) => Lent::SpscBatch(c.read_batch(max, timeout)?),
            Consumer::Mpmc(c) => Lent::MpmcBatch(c.read_batch(max, timeout)?),
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
        let (handle, data, len) = unsafe {
            (
                consumer_arg(consumer)?,
                out_arg(data, "data")?,
                out_arg(len, "len")?,
            )
        };
        let count = match &handle.lent {
            Lent::SpscBatch(batch) => batch.len(),
            Lent::MpmcBatch(batch) => batch.len(),
            _ => {
                return Err(Failure::new(
                    shmlane_status::NothingPending,
                    "batch access: no batch is borrowed",
                ))
            }
        };
        if index >= count {
            return Err(Failure::invalid(format!(
                "message {index} is outside a batch of {count}"
            )));
        }
        let message = match &handle.lent {
            Lent::SpscBatch(batch) => batch.get(index),
            Lent::MpmcBatch(batch) => batch.get(index),
            _ => unreachable!("checked for a batch above"),
        };
        *data = message.as_ptr();
        *len = message.len();
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
        let (handle, first, first_len, second, second_len) = unsafe {
            (
                consumer_arg(consumer)?,
                out_arg(first, "first")?,
                out_arg(first_len, "first_len")?,
                out_arg(second, "second")?,
                out_arg(second_len, "second_len")?,
            )
        };
        let runs = match &handle.lent {
            Lent::SpscBatch(batch) => batch.as_slices(),
            Lent::MpmcBatch(_) => None,
            _ => {
                return Err(Failure::new(
                    shmlane_status::NothingPending,
                    "batch runs: no batch is borrowed",
                ))
            }
        };
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
    entry(|| {
        // SAFETY: the caller's contract above.
        let (handle, buffer, len) = unsafe {
            (
                consumer_arg(consumer)?,
                buffer_arg(buffer, capacity)?,
                out_arg(len, "len")?,
            )
        };
        let received = match handle.idle_consumer()? {
            Consumer::Spsc(c) => c.try_recv(buffer),
            Consumer::Mpmc(c) => c.try_recv(buffer),
        };
        *len = received_len(received, len)?;
        Ok(())
    })
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
        let (handle, buffer, len) = unsafe {
            (
                consumer_arg(consumer)?,
                buffer_arg(buffer, capacity)?,
                out_arg(len, "len")?,
            )
        };
        let timeout = timeout_arg(timeout_ns);
        let received = match handle.idle_consumer()? {
            Consumer::Spsc(c) => c.recv(buffer, timeout),
            Consumer::Mpmc(c) => c.recv(buffer, timeout),
        };
        *len = received_len(received, len)?;
        Ok(())
    })
}

/// The length received, or the failure; for a buffer too small, the length
/// needed goes to `*len` first.
fn received_len(received: Result<usize, Error>, len: &mut usize) -> Result<usize, Failure> {
    match received {
        Ok(received) => Ok(received),
        Err(error) => {
            if let Error::BufferTooSmall { needed, .. } = error {
                *len = needed;
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
    entry(|| {
        // SAFETY: the caller's contract above.
        let (handle, strategy) =
            unsafe { (consumer_arg(consumer)?, in_arg(strategy, "strategy")?) };
        let strategy = WaitStrategy::from(strategy);
        match handle.idle_consumer()? {
            Consumer::Spsc(c) => c.set_wait_strategy(strategy),
            Consumer::Mpmc(c) => c.set_wait_strategy(strategy),
        }
        Ok(())
    })
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
    entry(|| {
        // SAFETY: the caller's contract above.
        let (handle, disconnected) = unsafe {
            (
                consumer_arg(consumer)?,
                out_arg(disconnected, "disconnected")?,
            )
        };
        *disconnected = u8::from(match handle.idle_consumer()? {
            Consumer::Spsc(c) => c.is_disconnected(),
            Consumer::Mpmc(c) => c.is_disconnected(),
        });
        Ok(())
    })
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
    entry(|| {
        // SAFETY: the caller's contract above.
        let (handle, strategy) =
            unsafe { (consumer_arg(consumer)?, out_arg(strategy, "strategy")?) };
        *strategy = match handle.idle_consumer()? {
            Consumer::Spsc(h) => h.wait_strategy(),
            Consumer::Mpmc(h) => h.wait_strategy(),
        }
        .into();
        Ok(())
    })
}
