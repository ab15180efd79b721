//! Broadcast rings: their producer, and subscribers that each see every
//! message.
//!
//! `shmlane_producer_t` and `shmlane_consumer_t` join a broadcast ring too
//! (as its producer and a tethered subscriber from the newest message); the
//! handles here, over `shmlane::broadcast`, add what only broadcast has:
//! `shmlane_broadcast_producer_t` reserves and commits or sends as a producer
//! does; `shmlane_subscriber_t` is tethered or untethered, and starts at the
//! newest or the oldest message, as chosen when it joins. A tethered
//! subscriber lends messages in place as a consumer does (see `lending.rs`);
//! an untethered one lends them unvalidated, since the producer may overwrite
//! the slot meanwhile, and its release says whether what was read was intact
//! (`SHMLANE_STATUS_LAGGED` when not), or copies them out the same way; it
//! says how many messages it lost when it was lapped.

use std::ffi::c_void;

use shmlane::broadcast::{self, Broadcast, Received, Start, StartedRead, Untethered};
use shmlane::{Error, ErrorKind, ReadSlot, Reading, WaitStrategy, WriteSlot, Writing};

use crate::lending::{nothing_lent, shared, Lender};
use crate::status::{entry, entry_status, error_status, null_argument, shmlane_status, Failure};
use crate::wait::shmlane_wait_strategy_t;
use crate::{in_arg, out_arg, timeout_arg};

/// The producing handle of a broadcast ring: each message it commits goes to
/// every subscriber.
///
/// Made by `shmlane_broadcast_producer_open`, freed by
/// `shmlane_broadcast_producer_close`. A handle may move between threads but
/// must not be used by two threads at once.
pub struct shmlane_broadcast_producer_t(Lender<Writing, WriteSlot<'static, Broadcast>, Broadcast>);

/// Borrows a broadcast producer handle.
///
/// # Safety
/// `producer` is NULL or a live handle not used by another thread right now.
unsafe fn producer_arg<'a>(
    producer: *mut shmlane_broadcast_producer_t,
) -> Result<&'a mut Lender<Writing, WriteSlot<'static, Broadcast>, Broadcast>, Failure> {
    // SAFETY: the caller's contract above.
    Ok(&mut unsafe { out_arg(producer, "producer") }?.0)
}

/// Joins a broadcast ring as its one producer: `SHMLANE_STATUS_ROLE_TAKEN`
/// while another producer lives (one that died is taken over),
/// `SHMLANE_STATUS_WRONG_KIND` on a ring of another kind. Free the handle with
/// `shmlane_broadcast_producer_close`. Thread-safe.
///
/// While no tethered subscriber is joined the producer never waits: it
/// overwrites the oldest message. Each live tethered subscriber holds it back
/// (`SHMLANE_STATUS_FULL`) until it has released the slot to be reused.
///
/// # Safety
/// `ring` is a live ring handle; `out` is valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn shmlane_broadcast_producer_open(
    ring: *const crate::shmlane_ring_t,
    out: *mut *mut shmlane_broadcast_producer_t,
) -> shmlane_status {
    // SAFETY: the caller's contract above.
    entry(|| unsafe {
        shared::open(ring, out, |ring| {
            Lender::join(ring).map(shmlane_broadcast_producer_t)
        })
    })
}

/// Leaves the ring and frees the handle; a reserved slot is given up. The
/// subscribers drain what was published, then see
/// `SHMLANE_STATUS_DISCONNECTED`. NULL is ignored.
///
/// # Safety
/// `producer` is NULL or a live handle; it is invalid afterwards.
#[no_mangle]
pub unsafe extern "C" fn shmlane_broadcast_producer_close(
    producer: *mut shmlane_broadcast_producer_t,
) {
    // SAFETY: the caller's contract above.
    unsafe { shared::close(producer) }
}

/// The largest message the producer's ring carries; 0 for NULL.
///
/// # Safety
/// `producer` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn shmlane_broadcast_producer_max_payload(
    producer: *const shmlane_broadcast_producer_t,
) -> usize {
    // SAFETY: the caller's contract above.
    unsafe { producer.as_ref() }.map_or(0, |p| p.0.max_payload)
}

/// Hands a reserved slot's payload to C and keeps its guard.
fn lend_slot(
    lender: &mut Lender<Writing, WriteSlot<'static, Broadcast>, Broadcast>,
    mut slot: WriteSlot<'static, Broadcast>,
    data: &mut *mut u8,
    capacity: &mut usize,
) {
    (*data, *capacity) = (slot.as_mut_ptr(), slot.len());
    lender.lend(slot);
}

/// Reserves the next slot without waiting, as `shmlane_producer_try_reserve`:
/// `*data` points to its `*capacity` (= max payload) writable bytes until
/// `shmlane_broadcast_producer_commit` or `shmlane_broadcast_producer_abort`.
/// `SHMLANE_STATUS_FULL` while a tethered subscriber has not released the
/// slot; `SHMLANE_STATUS_BUSY` while a slot is already reserved.
///
/// # Safety
/// `producer` is a live handle, not used by another thread during the call;
/// `data` and `capacity` are valid for writing.
#[no_mangle]
pub unsafe extern "C" fn shmlane_broadcast_producer_try_reserve(
    producer: *mut shmlane_broadcast_producer_t,
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

/// As `shmlane_broadcast_producer_try_reserve`, waiting up to `timeout_ns`
/// nanoseconds (negative: no limit) for a tethered subscriber to free the
/// slot; `SHMLANE_STATUS_TIMEOUT` instead of `SHMLANE_STATUS_FULL`.
///
/// # Safety
/// As `shmlane_broadcast_producer_try_reserve`.
#[no_mangle]
pub unsafe extern "C" fn shmlane_broadcast_producer_reserve(
    producer: *mut shmlane_broadcast_producer_t,
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

/// Publishes the first `len` bytes of the reserved slot to every subscriber.
/// Errors as `shmlane_producer_commit`.
///
/// # Safety
/// `producer` is a live handle, not used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn shmlane_broadcast_producer_commit(
    producer: *mut shmlane_broadcast_producer_t,
    len: usize,
) -> shmlane_status {
    entry_status(|| {
        // SAFETY: the caller's contract above.
        let Some(handle) = (unsafe { producer.as_mut() }) else {
            return null_argument("producer");
        };
        match handle.0.lent.take() {
            Some(slot) => match slot.commit(len) {
                Ok(()) => shmlane_status::Ok,
                Err(error) => error_status(error),
            },
            None => nothing_lent("commit").report(),
        }
    })
}

/// Gives up the reserved slot: no subscriber sees it.
/// `SHMLANE_STATUS_NOTHING_PENDING` when nothing is reserved.
///
/// # Safety
/// `producer` is a live handle, not used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn shmlane_broadcast_producer_abort(
    producer: *mut shmlane_broadcast_producer_t,
) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        let lender = unsafe { producer_arg(producer)? };
        // Dropping the guard gives the slot up.
        lender
            .lent
            .take()
            .map(drop)
            .ok_or_else(|| nothing_lent("abort"))
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

/// Copies `len` bytes from `data` into the next slot and publishes them to
/// every subscriber, without waiting. Errors as
/// `shmlane_broadcast_producer_try_reserve` and
/// `shmlane_broadcast_producer_commit`.
///
/// # Safety
/// `producer` is a live handle, not used by another thread during the call;
/// `data` is valid for reading `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn shmlane_broadcast_producer_try_send(
    producer: *mut shmlane_broadcast_producer_t,
    data: *const c_void,
    len: usize,
) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        let (lender, message) = unsafe { (producer_arg(producer)?, message_arg(data, len)?) };
        if !lender.idle()?.try_send(message)? {
            return Err(Failure::outcome(shmlane_status::Full));
        }
        Ok(())
    })
}

/// As `shmlane_broadcast_producer_try_send`, waiting up to `timeout_ns`
/// (negative: no limit); `SHMLANE_STATUS_TIMEOUT` instead of
/// `SHMLANE_STATUS_FULL`.
///
/// # Safety
/// As `shmlane_broadcast_producer_try_send`.
#[no_mangle]
pub unsafe extern "C" fn shmlane_broadcast_producer_send(
    producer: *mut shmlane_broadcast_producer_t,
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
pub unsafe extern "C" fn shmlane_broadcast_producer_set_wait_strategy(
    producer: *mut shmlane_broadcast_producer_t,
    strategy: *const shmlane_wait_strategy_t,
) -> shmlane_status {
    // SAFETY: the caller's contract above.
    entry(|| unsafe { shared::set_wait_strategy(producer_arg(producer)?, strategy) })
}

/// Whether every subscriber that joined has closed or died: writes 1 or 0 to
/// `*disconnected`. The producer goes on publishing either way, for
/// subscribers that may still join.
///
/// # Safety
/// `producer` is a live handle, not used by another thread during the call;
/// `disconnected` is valid for writing.
#[no_mangle]
pub unsafe extern "C" fn shmlane_broadcast_producer_is_disconnected(
    producer: *mut shmlane_broadcast_producer_t,
    disconnected: *mut u8,
) -> shmlane_status {
    // SAFETY: the caller's contract above.
    entry(|| unsafe { shared::is_disconnected(producer_arg(producer)?, disconnected) })
}

/// `shmlane_subscriber_options_t::start`: begin at the next message published.
pub const SHMLANE_START_NEWEST: u32 = 0;
/// `shmlane_subscriber_options_t::start`: begin at the oldest message the
/// ring still holds (up to `capacity` messages published before the join).
pub const SHMLANE_START_OLDEST: u32 = 1;

/// How `shmlane_subscriber_open` joins. Start from
/// `shmlane_subscriber_options_default`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct shmlane_subscriber_options_t {
    /// Zero (the default): tethered, lossless: the producer waits for this
    /// subscriber rather than overwrite a message it has not released, and
    /// messages are lent in place. Non-zero: untethered, lossy: it never
    /// holds the producer back, validates each message it reads, and learns
    /// how many it lost when lapped (`SHMLANE_STATUS_LAGGED`).
    pub untethered: u8,
    /// `SHMLANE_START_NEWEST` (the default) or `SHMLANE_START_OLDEST`.
    pub start: u32,
}

/// The default subscriber options: tethered, from the newest message.
#[no_mangle]
pub extern "C" fn shmlane_subscriber_options_default() -> shmlane_subscriber_options_t {
    shmlane_subscriber_options_t {
        untethered: 0,
        start: SHMLANE_START_NEWEST,
    }
}

/// A subscriber's Rust handle, by the policy chosen at join.
enum Subscription {
    Tethered(Lender<Reading, ReadSlot<'static, Broadcast>, Broadcast>),
    /// Boxed, as the lender's handle is: both variants stay small.
    Untethered(Box<Lossy>),
}

/// An untethered subscriber, and the message it lent unvalidated, if any.
struct Lossy {
    subscriber: Untethered,
    /// Read in place by C; `shmlane_subscriber_release` validates it.
    peeked: Option<StartedRead>,
}

impl Lossy {
    /// The subscriber, unless a message is lent (`SHMLANE_STATUS_BUSY`).
    fn idle(&mut self) -> Result<&mut Untethered, Failure> {
        match self.peeked {
            Some(_) => Err(Failure::new(
                shmlane_status::Busy,
                "the subscriber lends a message: release it first",
            )),
            None => Ok(&mut self.subscriber),
        }
    }

    /// Lends what `found` found, in C's terms.
    fn lend(
        &mut self,
        found: Result<Option<Received<StartedRead>>, Error>,
        data: &mut *const u8,
        len: &mut usize,
        nothing: Failure,
    ) -> Result<(), Failure> {
        match found? {
            Some(Received::Message(started)) => {
                (*data, *len) = (started.data, started.len);
                self.peeked = Some(started);
                Ok(())
            }
            Some(Received::Lagged(_)) => Err(Failure::outcome(shmlane_status::Lagged)),
            None => Err(nothing),
        }
    }
}

/// A subscribing handle of a broadcast ring, tethered or untethered.
///
/// Made by `shmlane_subscriber_open`, freed by `shmlane_subscriber_close`. A
/// handle may move between threads but must not be used by two threads at
/// once.
pub struct shmlane_subscriber_t(Subscription);

/// Borrows a subscriber handle.
///
/// # Safety
/// `subscriber` is NULL or a live handle not used by another thread right now.
unsafe fn subscriber_arg<'a>(
    subscriber: *mut shmlane_subscriber_t,
) -> Result<&'a mut Subscription, Failure> {
    // SAFETY: the caller's contract above.
    Ok(&mut unsafe { out_arg(subscriber, "subscriber") }?.0)
}

/// Joins a broadcast ring as a subscriber, tethered or untethered and from
/// the newest or the oldest message as `options` says.
/// `SHMLANE_STATUS_TOO_MANY_PARTICIPANTS` when every subscriber record is
/// held by a live subscriber; `SHMLANE_STATUS_WRONG_KIND` on a ring of
/// another kind; `SHMLANE_STATUS_INVALID_ARGUMENT` for an unknown `start`.
/// Free the handle with `shmlane_subscriber_close`. Thread-safe.
///
/// # Safety
/// `ring` is a live ring handle; `options` points to options; `out` is valid
/// for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn shmlane_subscriber_open(
    ring: *const crate::shmlane_ring_t,
    options: *const shmlane_subscriber_options_t,
    out: *mut *mut shmlane_subscriber_t,
) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        let options = unsafe { in_arg(options, "options")? };
        let start = match options.start {
            SHMLANE_START_NEWEST => Start::Newest,
            SHMLANE_START_OLDEST => Start::Oldest,
            other => {
                return Err(Failure::invalid(format!(
                    "unknown start {other}: SHMLANE_START_NEWEST or SHMLANE_START_OLDEST"
                )))
            }
        };
        let untethered = options.untethered != 0;
        // SAFETY: the caller's contract above.
        unsafe {
            shared::open(ring, out, |ring| {
                Ok(shmlane_subscriber_t(if untethered {
                    Subscription::Untethered(Box::new(Lossy {
                        subscriber: Untethered::join(ring, start)?,
                        peeked: None,
                    }))
                } else {
                    let subscriber = broadcast::Subscriber::join_from(ring, start)?;
                    Subscription::Tethered(Lender::new(ring, subscriber))
                }))
            })
        }
    })
}

/// Releases any borrowed message, leaves the ring and frees the handle: a
/// tethered subscriber stops holding the producer back. NULL is ignored.
///
/// # Safety
/// `subscriber` is NULL or a live handle; it is invalid afterwards.
#[no_mangle]
pub unsafe extern "C" fn shmlane_subscriber_close(subscriber: *mut shmlane_subscriber_t) {
    // SAFETY: the caller's contract above.
    unsafe { shared::close(subscriber) }
}

/// The largest message the subscriber's ring carries; 0 for NULL.
///
/// # Safety
/// `subscriber` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn shmlane_subscriber_max_payload(
    subscriber: *const shmlane_subscriber_t,
) -> usize {
    // SAFETY: the caller's contract above.
    match unsafe { subscriber.as_ref() } {
        Some(shmlane_subscriber_t(Subscription::Tethered(lender))) => lender.max_payload,
        Some(shmlane_subscriber_t(Subscription::Untethered(lossy))) => {
            lossy.subscriber.max_payload()
        }
        None => 0,
    }
}

/// 1 for a tethered subscriber, 0 for an untethered one or NULL.
///
/// # Safety
/// `subscriber` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn shmlane_subscriber_is_tethered(
    subscriber: *const shmlane_subscriber_t,
) -> u8 {
    // SAFETY: the caller's contract above.
    let subscription = unsafe { subscriber.as_ref() }.map(|s| &s.0);
    u8::from(matches!(subscription, Some(Subscription::Tethered(_))))
}

/// Hands a borrowed message to C and keeps its guard.
fn lend_message(
    lender: &mut Lender<Reading, ReadSlot<'static, Broadcast>, Broadcast>,
    message: ReadSlot<'static, Broadcast>,
    data: &mut *const u8,
    len: &mut usize,
) {
    (*data, *len) = (message.as_ptr(), message.len());
    lender.lend(message);
}

/// Borrows the next message in place without waiting: `*data` points to its
/// `*len` bytes, readable until `shmlane_subscriber_release`.
///
/// A tethered subscriber's message stays intact until then: the producer
/// does not overwrite it. An untethered subscriber's may be overwritten while
/// it is read: read it, compute from it what you need (copy it out, parse a
/// field, checking every value it gives, as a torn read may hold any bytes),
/// then call `shmlane_subscriber_release`, which returns
/// `SHMLANE_STATUS_OK` if the bytes were the intact message, or
/// `SHMLANE_STATUS_LAGGED` if the producer overwrote them meanwhile: then
/// discard what was computed (the message is lost). This call itself returns
/// `SHMLANE_STATUS_LAGGED` for an untethered subscriber that was lapped
/// before it read (nothing is lent; `shmlane_subscriber_lost` counts what
/// was lost).
///
/// `SHMLANE_STATUS_EMPTY` when no message is there;
/// `SHMLANE_STATUS_DISCONNECTED` when everything published was read and the
/// producer has closed or died; `SHMLANE_STATUS_BUSY` while a message is
/// borrowed.
///
/// # Safety
/// `subscriber` is a live handle, not used by another thread during the
/// call; `data` and `len` are valid for writing.
#[no_mangle]
pub unsafe extern "C" fn shmlane_subscriber_try_read(
    subscriber: *mut shmlane_subscriber_t,
    data: *mut *const u8,
    len: *mut usize,
) -> shmlane_status {
    entry_status(|| {
        // SAFETY: the caller's contract above.
        let (Some(handle), Some(data), Some(len)) =
            (unsafe { (subscriber.as_mut(), data.as_mut(), len.as_mut()) })
        else {
            return null_argument("subscriber, data or len");
        };
        match &mut handle.0 {
            Subscription::Tethered(lender) => lender.try_lend(
                |handle| handle.try_read(),
                |lender, found| lend_message(lender, found, data, len),
                shmlane_status::Empty,
            ),
            Subscription::Untethered(lossy) => {
                let found = match lossy.idle() {
                    Ok(subscriber) => subscriber.start_read(),
                    Err(busy) => return busy.report(),
                };
                match lossy.lend(found, data, len, Failure::outcome(shmlane_status::Empty)) {
                    Ok(()) => shmlane_status::Ok,
                    Err(failure) => failure.report(),
                }
            }
        }
    })
}

/// As `shmlane_subscriber_try_read`, waiting up to `timeout_ns` nanoseconds
/// (negative: no limit) for a message; `SHMLANE_STATUS_TIMEOUT` instead of
/// `SHMLANE_STATUS_EMPTY`.
///
/// # Safety
/// As `shmlane_subscriber_try_read`.
#[no_mangle]
pub unsafe extern "C" fn shmlane_subscriber_read(
    subscriber: *mut shmlane_subscriber_t,
    timeout_ns: i64,
    data: *mut *const u8,
    len: *mut usize,
) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        let (subscription, data, len) = unsafe {
            (
                subscriber_arg(subscriber)?,
                out_arg(data, "data")?,
                out_arg(len, "len")?,
            )
        };
        let lender = match subscription {
            Subscription::Tethered(lender) => lender,
            Subscription::Untethered(lossy) => {
                let found = lossy.idle()?.wait_start_read(timeout_arg(timeout_ns));
                return lossy.lend(found, data, len, Failure::timeout());
            }
        };
        match lender.idle()?.read(timeout_arg(timeout_ns))? {
            Some(message) => lend_message(lender, message, data, len),
            None => return Err(Failure::timeout()),
        }
        Ok(())
    })
}

/// Releases the borrowed message: the producer may reuse its slot, and the
/// pointer lent for it is invalid. `SHMLANE_STATUS_NOTHING_PENDING` when
/// nothing is borrowed. For an untethered subscriber, this validates the
/// read: `SHMLANE_STATUS_OK` if what was read was the intact message,
/// `SHMLANE_STATUS_LAGGED` if the producer overwrote it while it was read
/// (discard what was computed from it; it counts as lost).
///
/// # Safety
/// `subscriber` is a live handle, not used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn shmlane_subscriber_release(
    subscriber: *mut shmlane_subscriber_t,
) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        let subscription = unsafe { subscriber_arg(subscriber)? };
        match subscription {
            Subscription::Tethered(lender) => lender
                .lent
                .take()
                .map(ReadSlot::release)
                .ok_or_else(|| nothing_lent("release")),
            Subscription::Untethered(lossy) => {
                let started = lossy.peeked.take().ok_or_else(|| nothing_lent("release"))?;
                match lossy.subscriber.finish_read(started) {
                    Received::Message(started) => {
                        lossy.subscriber.consume(started);
                        Ok(())
                    }
                    Received::Lagged(_) => Err(Failure::outcome(shmlane_status::Lagged)),
                }
            }
        }
    })
}

/// What a receive found, in C's terms: the length through `len`, the count
/// lost through `lost`, or `nothing` (empty, or a wait that ran out).
fn received(
    found: Result<Option<Received>, Error>,
    len: &mut usize,
    lost: &mut u64,
    nothing: Failure,
) -> Result<(), Failure> {
    match found {
        Ok(Some(Received::Message(copied))) => {
            *len = copied;
            Ok(())
        }
        Ok(Some(Received::Lagged(count))) => {
            *lost = count;
            Err(Failure::outcome(shmlane_status::Lagged))
        }
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

/// Receives the next message into `buffer`, waiting up to `timeout` (none:
/// not at all, `Some(None)`: as long as it takes).
fn receive(
    subscription: &mut Subscription,
    buffer: &mut [u8],
    timeout: Option<Option<std::time::Duration>>,
) -> Result<Result<Option<Received>, Error>, Failure> {
    Ok(match subscription {
        Subscription::Tethered(lender) => {
            let subscriber = lender.idle()?;
            let copied = match timeout {
                None => subscriber.try_recv(buffer),
                Some(timeout) => subscriber.recv(buffer, timeout),
            };
            copied.map(|found| found.map(Received::Message))
        }
        Subscription::Untethered(lossy) => {
            let subscriber = lossy.idle()?;
            match timeout {
                None => subscriber.try_recv(buffer),
                Some(timeout) => subscriber.recv(buffer, timeout),
            }
        }
    })
}

/// Copies the next message into `buffer` (`capacity` bytes) without waiting;
/// `*len` receives its length. Both kinds of subscriber.
///
/// `SHMLANE_STATUS_LAGGED` (untethered subscribers only): the producer
/// overwrote messages this subscriber had not read; `*lost` receives how
/// many, nothing is copied, and the next call reads the oldest message still
/// intact. A message overwritten while it was being copied is reported so,
/// never as data. `SHMLANE_STATUS_BUFFER_TOO_SMALL`: `*len` receives the
/// length needed, and the message stays for the next read. Otherwise as
/// `shmlane_subscriber_try_read`. `*len` and `*lost` are written only as
/// said here.
///
/// # Safety
/// `subscriber` is a live handle, not used by another thread during the
/// call; `buffer` is valid for writing `capacity` bytes (or `capacity` is 0);
/// `len` and `lost` are valid for writing.
#[no_mangle]
pub unsafe extern "C" fn shmlane_subscriber_try_recv(
    subscriber: *mut shmlane_subscriber_t,
    buffer: *mut c_void,
    capacity: usize,
    len: *mut usize,
    lost: *mut u64,
) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        let (subscription, buffer, len, lost) = unsafe {
            (
                subscriber_arg(subscriber)?,
                buffer_arg(buffer, capacity)?,
                out_arg(len, "len")?,
                out_arg(lost, "lost")?,
            )
        };
        let found = receive(subscription, buffer, None)?;
        received(found, len, lost, Failure::outcome(shmlane_status::Empty))
    })
}

/// As `shmlane_subscriber_try_recv`, waiting up to `timeout_ns` nanoseconds
/// (negative: no limit) for a message; `SHMLANE_STATUS_TIMEOUT` instead of
/// `SHMLANE_STATUS_EMPTY`.
///
/// # Safety
/// As `shmlane_subscriber_try_recv`.
#[no_mangle]
pub unsafe extern "C" fn shmlane_subscriber_recv(
    subscriber: *mut shmlane_subscriber_t,
    buffer: *mut c_void,
    capacity: usize,
    timeout_ns: i64,
    len: *mut usize,
    lost: *mut u64,
) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        let (subscription, buffer, len, lost) = unsafe {
            (
                subscriber_arg(subscriber)?,
                buffer_arg(buffer, capacity)?,
                out_arg(len, "len")?,
                out_arg(lost, "lost")?,
            )
        };
        let found = receive(subscription, buffer, Some(timeout_arg(timeout_ns)))?;
        received(found, len, lost, Failure::timeout())
    })
}

/// Skips to the latest message: the next read returns the newest one
/// published (an untethered subscriber's, if the producer does not overwrite
/// it first); `*skipped` receives how many messages were passed over unread.
/// `SHMLANE_STATUS_BUSY` while a message is borrowed.
///
/// # Safety
/// `subscriber` is a live handle, not used by another thread during the
/// call; `skipped` is valid for writing.
#[no_mangle]
pub unsafe extern "C" fn shmlane_subscriber_skip_to_latest(
    subscriber: *mut shmlane_subscriber_t,
    skipped: *mut u64,
) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        let (subscription, skipped) =
            unsafe { (subscriber_arg(subscriber)?, out_arg(skipped, "skipped")?) };
        *skipped = match subscription {
            Subscription::Tethered(lender) => lender.idle()?.skip_to_latest()?,
            Subscription::Untethered(lossy) => lossy.idle()?.skip_to_latest()?,
        };
        Ok(())
    })
}

/// Sets how the handle's blocking calls wait.
///
/// # Safety
/// `subscriber` is a live handle, not used by another thread during the
/// call; `strategy` points to a strategy.
#[no_mangle]
pub unsafe extern "C" fn shmlane_subscriber_set_wait_strategy(
    subscriber: *mut shmlane_subscriber_t,
    strategy: *const shmlane_wait_strategy_t,
) -> shmlane_status {
    entry(|| {
        // SAFETY: the caller's contract above.
        let subscription = unsafe { subscriber_arg(subscriber)? };
        match subscription {
            // SAFETY: the caller's contract above.
            Subscription::Tethered(lender) => unsafe {
                shared::set_wait_strategy(lender, strategy)
            },
            Subscription::Untethered(lossy) => {
                // SAFETY: the caller's contract above.
                let strategy = unsafe { in_arg(strategy, "strategy")? };
                lossy
                    .subscriber
                    .set_wait_strategy(WaitStrategy::from(strategy));
                Ok(())
            }
        }
    })
}

/// How many messages an untethered subscriber lost to the producer lapping
/// it, in all (every `SHMLANE_STATUS_LAGGED` it was told of); 0 for a
/// tethered subscriber, which loses none, or NULL.
///
/// # Safety
/// `subscriber` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn shmlane_subscriber_lost(subscriber: *const shmlane_subscriber_t) -> u64 {
    // SAFETY: the caller's contract above.
    match unsafe { subscriber.as_ref() } {
        Some(shmlane_subscriber_t(Subscription::Untethered(lossy))) => lossy.subscriber.lost(),
        _ => 0,
    }
}
