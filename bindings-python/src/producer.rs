//! Producers: `send` copies a bytes-like message into the next slot;
//! `reserve` lends the slot itself as a writable [`Slot`], published by
//! `Slot.commit(n)`.
//!
//! A producer lends one slot at a time. Reserving the next one gives up the
//! slot lent before (uncommitted: nothing is published), unless buffer views
//! of it are alive: then the call fails with `ViewsAliveError`, naming them.

use std::ptr::NonNull;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyWeakrefReference;
use shmlane::{AnyKind, WriteSlot, Writing};

use crate::buffer::BytesLike;
use crate::errors;
use crate::lending::{HandlePtr, Lender};
use crate::views::{describe_views, Loan};
use crate::wait::{in_slices, timeout_arg, SameThread};

/// The slot a producer lent to Python.
struct Lent {
    guard: WriteSlot<'static, AnyKind>,
    loan: Arc<Loan>,
    /// The `Slot` object, to name its views in an error.
    slot: Py<PyWeakrefReference>,
}

/// An open producer's state.
struct State {
    lender: Lender<Writing, Lent>,
    max_payload: usize,
    fixed_size: bool,
}

impl State {
    /// Whether a message of `len` bytes fits the ring (as the Rust handle
    /// checks before it sends).
    fn fits(&self, len: usize) -> bool {
        if self.fixed_size {
            len == self.max_payload
        } else {
            len <= self.max_payload
        }
    }

    /// Takes back the lent slot if it is `only` (any, for `None`), marked
    /// released; fails, keeping it lent, while buffer views of it are alive.
    fn take(&mut self, py: Python<'_>, only: Option<&Arc<Loan>>) -> PyResult<Option<Lent>> {
        let Some(lent) = self.lender.lent() else {
            return Ok(None);
        };
        if only.is_some_and(|loan| !Arc::ptr_eq(loan, &lent.loan)) {
            return Ok(None);
        }
        let exports = lent.loan.exports();
        if exports > 0 {
            let views = match lent.slot.bind(py).upgrade() {
                Some(slot) => describe_views(&slot, exports),
                None => format!("{exports} buffer views"),
            };
            return Err(errors::views_alive(py, "slot", &views));
        }
        let lent = self.lender.take_lent();
        if let Some(lent) = &lent {
            lent.loan.mark_released();
        }
        Ok(lent)
    }

    /// The Rust producer, once the slot lent before is given up.
    fn idle(&mut self, py: Python<'_>) -> PyResult<HandlePtr<Writing>> {
        drop(self.take(py, None)?);
        self.lender
            .idle()
            .ok_or_else(|| PyValueError::new_err("the producer still lends a slot"))
    }
}

/// A producer of a ring of any kind.
///
/// Made by `Ring.producer()`. A context manager: leaving the block closes it.
#[pyclass(module = "shmlane", name = "Producer", frozen)]
pub(crate) struct Producer {
    /// `None` once closed. Locked for each call: a call from a second
    /// thread while one waits fails (see [`Producer::lock`]).
    state: Mutex<Option<State>>,
    kind: &'static str,
    max_payload: usize,
    capacity: usize,
}

impl Producer {
    /// Joins `ring` as a producer.
    pub(crate) fn join(py: Python<'_>, ring: &shmlane::Ring) -> PyResult<Producer> {
        let lender = Lender::join(ring).map_err(|error| errors::to_py(py, error))?;
        Ok(Producer {
            kind: crate::ring::kind_name(ring.kind()),
            max_payload: ring.max_payload(),
            capacity: ring.geometry().capacity as usize,
            state: Mutex::new(Some(State {
                lender,
                max_payload: ring.max_payload(),
                fixed_size: ring.geometry().fixed_size,
            })),
        })
    }

    /// The state, locked for one call. A call from a second thread while
    /// another call holds it (waiting, with the GIL released) fails rather
    /// than wait for it with the GIL held, which could never end.
    fn lock(&self) -> PyResult<MutexGuard<'_, Option<State>>> {
        match self.state.try_lock() {
            Ok(guard) => Ok(guard),
            Err(TryLockError::Poisoned(poisoned)) => Ok(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => Err(PyRuntimeError::new_err(
                "the producer is in use by another thread's call: a handle takes one call at a time",
            )),
        }
    }

    /// Takes back the lent slot if it is `loan`'s (from its `Slot`).
    fn take_loan(&self, py: Python<'_>, loan: &Arc<Loan>) -> PyResult<Option<Lent>> {
        match &mut *self.lock()? {
            Some(state) => state.take(py, Some(loan)),
            None => Ok(None),
        }
    }

    /// Sends `message`, waiting up to `timeout`; whether it was sent.
    fn send_bytes(
        &self,
        py: Python<'_>,
        message: &Bound<'_, PyAny>,
        timeout: Option<Duration>,
    ) -> PyResult<bool> {
        let message = BytesLike::get(message)?;
        let bytes = message.as_slice();
        let mut guard = self.lock()?;
        let handle = opened(&mut guard)?.idle(py)?;
        // SAFETY: nothing is lent, and no guard outlives the call.
        let sent = unsafe { handle.get() }
            .try_send(bytes)
            .map_err(|error| errors::to_py(py, error))?;
        if sent || timeout.is_some_and(|timeout| timeout.is_zero()) {
            return Ok(sent);
        }
        // Full, and the message fits (`try_send` checked): wait for a slot
        // with the GIL released, copy into it with the GIL held.
        let found = in_slices(py, timeout, move |slice| {
            // SAFETY: each slice's guard is returned (and used up below) or
            // none was made, before the next slice.
            let producer = unsafe { handle.get() };
            Ok(producer.reserve(Some(slice))?.map(SameThread))
        })?;
        let Some(SameThread(mut slot)) = found else {
            return Ok(false);
        };
        slot[..bytes.len()].copy_from_slice(bytes);
        slot.commit(bytes.len())
            .map_err(|error| errors::to_py(py, error))?;
        Ok(true)
    }

    /// Sends `messages` in order, a batch of slots at a time, waiting up to
    /// `timeout` in all for room; how many were sent.
    fn send_messages(
        &self,
        py: Python<'_>,
        messages: &Bound<'_, PyAny>,
        timeout: Option<Duration>,
    ) -> PyResult<usize> {
        let messages = messages
            .try_iter()?
            .map(|message| BytesLike::get(&message?))
            .collect::<PyResult<Vec<_>>>()?;
        let mut guard = self.lock()?;
        let state = opened(&mut guard)?;
        let handle = state.idle(py)?;
        // Nothing is sent when a message does not fit: the Rust check of
        // that message (which sends nothing then) names it.
        if let Some(misfit) = messages
            .iter()
            .find(|message| !state.fits(message.as_slice().len()))
        {
            // SAFETY: nothing is lent, and no guard outlives the call.
            return Err(match unsafe { handle.get() }.try_send(misfit.as_slice()) {
                Err(error) => errors::to_py(py, error),
                Ok(_) => PyValueError::new_err("a message does not fit the ring"),
            });
        }
        let deadline = timeout.and_then(|timeout| Instant::now().checked_add(timeout));
        let mut sent = 0;
        while sent < messages.len() {
            let wanted = messages.len() - sent;
            // SAFETY: nothing is lent; the batch is committed or dropped
            // before the next `get`.
            let batch = unsafe { handle.get() }
                .try_reserve_batch(wanted)
                .map_err(|error| errors::to_py(py, error))?;
            let mut batch = if !batch.is_empty() {
                batch
            } else {
                drop(batch);
                let left =
                    deadline.map(|deadline| deadline.saturating_duration_since(Instant::now()));
                if left.is_some_and(|left| left.is_zero()) {
                    break;
                }
                let found = in_slices(py, left, move |slice| {
                    // SAFETY: as above, a slice at a time.
                    let producer = unsafe { handle.get() };
                    let batch = producer.reserve_batch(wanted, Some(slice))?;
                    Ok((!batch.is_empty()).then_some(SameThread(batch)))
                })?;
                match found {
                    Some(SameThread(batch)) => batch,
                    None => break,
                }
            };
            let count = batch.len();
            for (index, message) in messages[sent..sent + count].iter().enumerate() {
                batch
                    .write(index, message.as_slice())
                    .map_err(|error| errors::to_py(py, error))?;
            }
            batch.commit();
            sent += count;
        }
        Ok(sent)
    }

    /// Lends the next slot as a `Slot`, waiting up to `timeout`.
    fn reserve_slot(
        slf: &Bound<'_, Self>,
        timeout: Option<Duration>,
    ) -> PyResult<Option<Py<Slot>>> {
        let py = slf.py();
        let this = slf.get();
        let mut guard = this.lock()?;
        let state = opened(&mut guard)?;
        let handle = state.idle(py)?;
        // SAFETY: nothing is lent; the guard is lent below or dropped.
        let first = unsafe { handle.get() }
            .try_reserve()
            .map_err(|error| errors::to_py(py, error))?;
        let mut guard = match first {
            Some(guard) => guard,
            None if timeout.is_some_and(|timeout| timeout.is_zero()) => return Ok(None),
            None => {
                let found = in_slices(py, timeout, move |slice| {
                    // SAFETY: as above, a slice at a time.
                    let producer = unsafe { handle.get() };
                    Ok(producer.reserve(Some(slice))?.map(SameThread))
                })?;
                match found {
                    Some(SameThread(guard)) => guard,
                    None => return Ok(None),
                }
            }
        };
        let len = guard.len();
        let loan = Loan::new(NonNull::from(&mut *guard).cast::<u8>(), len, true);
        let slot = Py::new(
            py,
            Slot {
                producer: slf.clone().unbind(),
                loan: loan.clone(),
            },
        )?;
        let weak = PyWeakrefReference::new(slot.bind(py))?.unbind();
        state.lender.lend(Lent {
            guard,
            loan,
            slot: weak,
        });
        Ok(Some(slot))
    }
}

#[pymethods]
impl Producer {
    /// Copies `message` (bytes-like) into the next slot and publishes it;
    /// False when the ring is full (nothing was sent).
    ///
    /// Raises MessageTooLargeError when it is longer than max_payload,
    /// DisconnectedError when the ring is full and every consumer is gone.
    fn try_send(&self, py: Python<'_>, message: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.send_bytes(py, message, Some(Duration::ZERO))
    }

    /// Copies `message` (bytes-like) into the next slot and publishes it,
    /// waiting up to `timeout` seconds for a free slot (None: as long as it
    /// takes); False when the time ran out (nothing was sent).
    ///
    /// The GIL is released while waiting, and Ctrl-C interrupts the wait.
    #[pyo3(signature = (message, timeout = None))]
    fn send(
        &self,
        py: Python<'_>,
        message: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<bool> {
        let timeout = timeout_arg(timeout)?;
        self.send_bytes(py, message, timeout)
    }

    /// Sends the bytes-like `messages` (an iterable) in order, as many as
    /// there is room for now, publishing each batch of slots at once; how
    /// many were sent (from the first).
    ///
    /// Nothing is sent when a message does not fit the ring: that raises
    /// MessageTooLargeError (WrongMessageSizeError in a fixed-size ring).
    fn try_send_batch(&self, py: Python<'_>, messages: &Bound<'_, PyAny>) -> PyResult<usize> {
        self.send_messages(py, messages, Some(Duration::ZERO))
    }

    /// Sends the bytes-like `messages` (an iterable) in order, waiting up
    /// to `timeout` seconds in all for room (None: as long as it takes);
    /// how many were sent (from the first: fewer when the time ran out).
    ///
    /// Nothing is sent when a message does not fit the ring, as for
    /// `try_send_batch`. The GIL is released while waiting.
    #[pyo3(signature = (messages, timeout = None))]
    fn send_batch(
        &self,
        py: Python<'_>,
        messages: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<usize> {
        let timeout = timeout_arg(timeout)?;
        self.send_messages(py, messages, timeout)
    }

    /// Reserves the next slot to write in place, or None when the ring is
    /// full. See `reserve`.
    fn try_reserve(slf: &Bound<'_, Self>) -> PyResult<Option<Py<Slot>>> {
        Producer::reserve_slot(slf, Some(Duration::ZERO))
    }

    /// Reserves the next slot to write in place, waiting up to `timeout`
    /// seconds (None: as long as it takes); None when the time ran out.
    ///
    /// The Slot is a writable buffer of max_payload bytes over the slot
    /// (`memoryview(s)`, `numpy.frombuffer(s, dtype)`); `s.commit(n)`
    /// publishes its first n bytes. A slot given up uncommitted (at the end
    /// of a `with` block, by `abort()`, by the next reserve or when garbage
    /// collected) publishes nothing.
    #[pyo3(signature = (timeout = None))]
    fn reserve(slf: &Bound<'_, Self>, timeout: Option<f64>) -> PyResult<Option<Py<Slot>>> {
        let timeout = timeout_arg(timeout)?;
        Producer::reserve_slot(slf, timeout)
    }

    /// Whether every consumer that ever joined has closed or died.
    fn is_disconnected(&self, py: Python<'_>) -> PyResult<bool> {
        let mut guard = self.lock()?;
        let handle = opened(&mut guard)?.idle(py)?;
        // SAFETY: nothing is lent, and nothing is made from the reference.
        Ok(unsafe { handle.get() }.is_disconnected())
    }

    /// Gives up the lent slot (if its views are gone) and leaves the ring.
    /// Closing a closed producer does nothing.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let mut slot = self.lock()?;
        if let Some(state) = slot.as_mut() {
            drop(state.take(py, None)?);
        }
        *slot = None;
        Ok(())
    }

    /// Whether the producer is closed.
    #[getter]
    fn closed(&self) -> bool {
        match self.state.try_lock() {
            Ok(state) => state.is_none(),
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner().is_none(),
            // A call in progress: open.
            Err(TryLockError::WouldBlock) => false,
        }
    }

    /// The ring's kind: "spsc" or "mpmc".
    #[getter]
    fn kind(&self) -> &'static str {
        self.kind
    }

    /// The largest message the ring carries, in bytes.
    #[getter]
    fn max_payload(&self) -> usize {
        self.max_payload
    }

    /// The number of slots of the ring.
    #[getter]
    fn capacity(&self) -> usize {
        self.capacity
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _kind: Option<&Bound<'_, PyAny>>,
        _value: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        match self.state.try_lock().map(|state| state.is_some()) {
            Ok(false) => "<shmlane.Producer (closed)>".to_string(),
            _ => format!(
                "<shmlane.Producer of a {} ring of {} slots, messages up to {} bytes>",
                self.kind, self.capacity, self.max_payload
            ),
        }
    }
}

/// A slot reserved in a ring, lent by `Producer.reserve()`.
///
/// A writable buffer of max_payload bytes: write it through
/// `memoryview(slot)` or `numpy.frombuffer(slot, dtype)`, then publish its
/// first n bytes with `commit(n)`. Leaving a `with` block uncommitted gives
/// the slot up (nothing is published). Committing and giving up raise
/// ViewsAliveError while buffer views of the slot are alive; afterwards the
/// slot refuses every use.
#[pyclass(module = "shmlane", name = "Slot", frozen, weakref)]
pub(crate) struct Slot {
    producer: Py<Producer>,
    loan: Arc<Loan>,
}

#[pymethods]
impl Slot {
    /// Publishes the first `n` bytes of the slot as one message (all of it
    /// when `n` is None).
    ///
    /// Raises MessageTooLargeError when n > max_payload (WrongMessageSizeError
    /// in a ring of fixed-size messages when n differs from it); the slot is
    /// given up then, and nothing is published.
    #[pyo3(signature = (n = None))]
    fn commit(&self, py: Python<'_>, n: Option<i64>) -> PyResult<()> {
        let len = match n {
            None => self.loan.len(),
            Some(n) => usize::try_from(n).map_err(|_| {
                PyValueError::new_err(format!("a message length is not negative, not {n}"))
            })?,
        };
        if self.loan.is_released() {
            return Err(crate::views::released("slot"));
        }
        let lent = self.producer.get().take_loan(py, &self.loan)?;
        match lent {
            Some(lent) => lent
                .guard
                .commit(len)
                .map_err(|error| errors::to_py(py, error)),
            None => Err(crate::views::released("slot")),
        }
    }

    /// Gives the slot up uncommitted: nothing is published. Raises
    /// ViewsAliveError while buffer views of it are alive; does nothing
    /// once the slot is committed or given up.
    fn abort(&self, py: Python<'_>) -> PyResult<()> {
        if self.loan.is_released() {
            return Ok(());
        }
        let lent = self.producer.get().take_loan(py, &self.loan)?;
        drop(lent);
        Ok(())
    }

    /// Whether the slot was committed or given up.
    #[getter]
    fn released(&self) -> bool {
        self.loan.is_released()
    }

    fn __len__(&self) -> usize {
        self.loan.len()
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _kind: Option<&Bound<'_, PyAny>>,
        _value: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        self.abort(py)?;
        Ok(false)
    }

    /// # Safety
    /// Called by Python as `bf_getbuffer`, with a valid `view`.
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: std::ffi::c_int,
    ) -> PyResult<()> {
        // SAFETY: `view` is the getbuffer call's (the caller's contract).
        unsafe { slf.get().loan.export(slf.as_any(), view, flags, "slot") }
    }

    /// # Safety
    /// Called by Python as `bf_releasebuffer`, once per successful export.
    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {
        self.loan.unexport();
    }

    fn __repr__(&self) -> String {
        let state = if self.loan.is_released() {
            "released"
        } else {
            "reserved"
        };
        format!("<shmlane.Slot of {} bytes, {state}>", self.loan.len())
    }
}

impl Drop for Slot {
    /// A slot dropped unreleased is given up (it has no views: each holds a
    /// reference to it).
    fn drop(&mut self) {
        if self.loan.is_released() {
            return;
        }
        Python::attach(|py| {
            {
                let producer = self.producer.get();
                // Nothing to report to: the views are gone, so this succeeds.
                drop(producer.take_loan(py, &self.loan));
            }
        });
    }
}

/// The state of an open producer.
fn opened(state: &mut Option<State>) -> PyResult<&mut State> {
    state
        .as_mut()
        .ok_or_else(|| PyValueError::new_err("operation on a closed producer"))
}
