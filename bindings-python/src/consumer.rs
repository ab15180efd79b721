//! Consumers: `recv` copies the next message out as `bytes`; `read` lends it
//! in place as a [`Message`], whose buffer memoryview and numpy read without
//! a copy.
//!
//! A consumer lends one message at a time. Reading the next one releases the
//! message lent before, unless buffer views of it are alive: then the read
//! fails with `ViewsAliveError`, naming them, and the message stays lent.

use std::ptr::NonNull;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyWeakrefReference};
use shmlane::{AnyKind, ReadSlot, Reading};

use crate::buffer::WritableBuffer;
use crate::errors;
use crate::lending::{HandlePtr, Lender};
use crate::views::{describe_views, Loan};
use crate::wait::{in_slices, timeout_arg, SameThread};

/// The message a consumer lent to Python.
struct Lent {
    /// Kept to be dropped: that releases the message's slot.
    #[allow(dead_code)]
    guard: ReadSlot<'static, AnyKind>,
    loan: Arc<Loan>,
    /// The `Message` object, to name its views in an error.
    message: Py<PyWeakrefReference>,
}

/// An open consumer's state.
struct State {
    lender: Lender<Reading, Lent>,
}

impl State {
    /// Releases the lent message if it is `only` (any, for `None`); fails,
    /// keeping it lent, while buffer views of it are alive.
    fn release(&mut self, py: Python<'_>, only: Option<&Arc<Loan>>) -> PyResult<()> {
        let Some(lent) = self.lender.lent() else {
            return Ok(());
        };
        if only.is_some_and(|loan| !Arc::ptr_eq(loan, &lent.loan)) {
            return Ok(());
        }
        let exports = lent.loan.exports();
        if exports > 0 {
            let views = match lent.message.bind(py).upgrade() {
                Some(message) => describe_views(&message, exports),
                None => format!("{exports} buffer views"),
            };
            return Err(errors::views_alive(py, "message", &views));
        }
        if let Some(lent) = self.lender.take_lent() {
            lent.loan.mark_released();
        }
        Ok(())
    }

    /// The Rust consumer, once the message lent before is released.
    fn idle(&mut self, py: Python<'_>) -> PyResult<HandlePtr<Reading>> {
        self.release(py, None)?;
        self.lender
            .idle()
            .ok_or_else(|| PyValueError::new_err("the consumer still lends a message"))
    }
}

/// A consumer of a ring of any kind: reads each message once (an MPMC ring
/// hands each message to one of its consumers).
///
/// Made by `Ring.consumer()`. Iterating over it receives messages until
/// every producer has gone and the ring is drained. A context manager:
/// leaving the block closes it.
#[pyclass(module = "shmlane", name = "Consumer", frozen)]
pub(crate) struct Consumer {
    /// `None` once closed. Locked for each call: a call from a second
    /// thread while one waits fails (see [`Consumer::lock`]).
    state: Mutex<Option<State>>,
    kind: &'static str,
    max_payload: usize,
    capacity: usize,
}

impl Consumer {
    /// Joins `ring` as a consumer.
    pub(crate) fn join(py: Python<'_>, ring: &shmlane::Ring) -> PyResult<Consumer> {
        let lender = Lender::join(ring).map_err(|error| errors::to_py(py, error))?;
        Ok(Consumer {
            kind: crate::ring::kind_name(ring.kind()),
            max_payload: ring.max_payload(),
            capacity: ring.geometry().capacity as usize,
            state: Mutex::new(Some(State { lender })),
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
                "the consumer is in use by another thread's call: a handle takes one call at a time",
            )),
        }
    }

    /// Releases the lent message if it is `loan`'s (from its `Message`).
    fn release_loan(&self, py: Python<'_>, loan: &Arc<Loan>) -> PyResult<()> {
        match &mut *self.lock()? {
            Some(state) => state.release(py, Some(loan)),
            None => Ok(()),
        }
    }

    /// The next message as bytes: `None` when there is none within `timeout`
    /// (`None`: no limit; `Some(ZERO)`: no wait).
    fn recv_bytes<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<std::time::Duration>,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let mut guard = self.lock()?;
        let handle = opened(&mut guard)?.idle(py)?;
        // SAFETY: nothing is lent; the guard is dropped before the next `get`.
        match unsafe { handle.get() }.try_read() {
            Ok(Some(message)) => return Ok(Some(PyBytes::new(py, &message))),
            Ok(None) if timeout.is_some_and(|timeout| timeout.is_zero()) => return Ok(None),
            Ok(None) => {}
            Err(error) => return Err(errors::to_py(py, error)),
        }
        let found = in_slices(py, timeout, move |slice| {
            // SAFETY: as above: each slice's guard is returned (and dropped
            // below) or none was made, before the next slice.
            let consumer = unsafe { handle.get() };
            Ok(consumer.read(Some(slice))?.map(SameThread))
        })?;
        Ok(found.map(|SameThread(message)| PyBytes::new(py, &message)))
    }

    /// Copies the next message into `buffer`, waiting up to `timeout`; its
    /// length, `None` when there is none in time.
    fn recv_into_buffer(
        &self,
        py: Python<'_>,
        buffer: &Bound<'_, PyAny>,
        timeout: Option<std::time::Duration>,
    ) -> PyResult<Option<usize>> {
        let held = WritableBuffer::get(buffer)?;
        let bytes = held.raw();
        let mut guard = self.lock()?;
        let handle = opened(&mut guard)?.idle(py)?;
        // SAFETY: nothing is lent and no guard outlives the call; `held`
        // keeps the buffer exported throughout.
        match unsafe { handle.get().try_recv(bytes.slice()) } {
            Ok(Some(len)) => return Ok(Some(len)),
            Ok(None) if timeout.is_some_and(|timeout| timeout.is_zero()) => return Ok(None),
            Ok(None) => {}
            Err(error) => return Err(errors::to_py(py, error)),
        }
        let found = in_slices(py, timeout, move |slice| {
            // SAFETY: as above, a slice at a time; `held` outlives the wait.
            unsafe { handle.get().recv(bytes.slice(), Some(slice)) }
        })?;
        drop(held);
        Ok(found)
    }

    /// Up to `max` messages as bytes, waiting up to `timeout` for one.
    fn recv_messages<'py>(
        &self,
        py: Python<'py>,
        max: usize,
        timeout: Option<std::time::Duration>,
    ) -> PyResult<Bound<'py, PyList>> {
        let mut guard = self.lock()?;
        let handle = opened(&mut guard)?.idle(py)?;
        // SAFETY: nothing is lent; the batch is dropped before the next `get`.
        let batch = unsafe { handle.get() }
            .try_read_batch(max)
            .map_err(|error| errors::to_py(py, error))?;
        if !batch.is_empty() || max == 0 || timeout.is_some_and(|timeout| timeout.is_zero()) {
            return PyList::new(py, batch.iter().map(|message| PyBytes::new(py, message)));
        }
        drop(batch);
        let found = in_slices(py, timeout, move |slice| {
            // SAFETY: as above, a slice at a time.
            let batch = unsafe { handle.get() }.read_batch(max, Some(slice))?;
            Ok((!batch.is_empty()).then_some(SameThread(batch)))
        })?;
        match found {
            Some(SameThread(batch)) => {
                PyList::new(py, batch.iter().map(|message| PyBytes::new(py, message)))
            }
            None => Ok(PyList::empty(py)),
        }
    }

    /// Lends the next message as a `Message`, waiting up to `timeout`.
    fn read_message(
        slf: &Bound<'_, Self>,
        timeout: Option<std::time::Duration>,
    ) -> PyResult<Option<Py<Message>>> {
        let py = slf.py();
        let this = slf.get();
        let mut guard = this.lock()?;
        let state = opened(&mut guard)?;
        let handle = state.idle(py)?;
        // SAFETY: nothing is lent; the guard is lent below or dropped.
        let first = unsafe { handle.get() }
            .try_read()
            .map_err(|error| errors::to_py(py, error))?;
        let guard = match first {
            Some(guard) => guard,
            None if timeout.is_some_and(|timeout| timeout.is_zero()) => return Ok(None),
            None => {
                let found = in_slices(py, timeout, move |slice| {
                    // SAFETY: as above, a slice at a time.
                    let consumer = unsafe { handle.get() };
                    Ok(consumer.read(Some(slice))?.map(SameThread))
                })?;
                match found {
                    Some(SameThread(guard)) => guard,
                    None => return Ok(None),
                }
            }
        };
        let loan = Loan::new(NonNull::from(&*guard).cast::<u8>(), guard.len(), false);
        let message = Py::new(
            py,
            Message {
                consumer: slf.clone().unbind(),
                loan: loan.clone(),
            },
        )?;
        let weak = PyWeakrefReference::new(message.bind(py))?.unbind();
        state.lender.lend(Lent {
            guard,
            loan,
            message: weak,
        });
        Ok(Some(message))
    }
}

#[pymethods]
impl Consumer {
    /// The next message as bytes, or None when the ring is empty.
    ///
    /// Raises DisconnectedError when the ring is drained and every producer
    /// has closed or died.
    fn try_recv<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        self.recv_bytes(py, Some(std::time::Duration::ZERO))
    }

    /// The next message as bytes, waiting up to `timeout` seconds for one
    /// (None: as long as it takes); None when the time ran out.
    ///
    /// The GIL is released while waiting, and Ctrl-C interrupts the wait.
    #[pyo3(signature = (timeout = None))]
    fn recv<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<f64>,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let timeout = timeout_arg(timeout)?;
        self.recv_bytes(py, timeout)
    }

    /// Copies the next message into `buffer` (a writable bytes-like object:
    /// bytearray, memoryview, numpy array) and returns its length, or None
    /// when the ring is empty.
    ///
    /// Raises BufferTooSmallError when the message does not fit; it is not
    /// consumed then, and the next read returns it.
    fn try_recv_into(&self, py: Python<'_>, buffer: &Bound<'_, PyAny>) -> PyResult<Option<usize>> {
        self.recv_into_buffer(py, buffer, Some(std::time::Duration::ZERO))
    }

    /// Copies the next message into `buffer`, waiting up to `timeout`
    /// seconds for one (None: as long as it takes); its length, or None when
    /// the time ran out. See `try_recv_into`.
    #[pyo3(signature = (buffer, timeout = None))]
    fn recv_into(
        &self,
        py: Python<'_>,
        buffer: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<Option<usize>> {
        let timeout = timeout_arg(timeout)?;
        self.recv_into_buffer(py, buffer, timeout)
    }

    /// Up to `max` messages as a list of bytes, without waiting (an empty
    /// list when the ring is empty); their slots are released together.
    fn try_recv_batch<'py>(&self, py: Python<'py>, max: usize) -> PyResult<Bound<'py, PyList>> {
        self.recv_messages(py, max, Some(std::time::Duration::ZERO))
    }

    /// Up to `max` messages as a list of bytes, waiting up to `timeout`
    /// seconds for at least one (None: as long as it takes); an empty list
    /// when the time ran out. Their slots are released together.
    #[pyo3(signature = (max, timeout = None))]
    fn recv_batch<'py>(
        &self,
        py: Python<'py>,
        max: usize,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let timeout = timeout_arg(timeout)?;
        self.recv_messages(py, max, timeout)
    }

    /// Borrows the next message in place, or None when the ring is empty.
    /// See `read`.
    fn try_read(slf: &Bound<'_, Self>) -> PyResult<Option<Py<Message>>> {
        Consumer::read_message(slf, Some(std::time::Duration::ZERO))
    }

    /// Borrows the next message in place, waiting up to `timeout` seconds
    /// (None: as long as it takes); None when the time ran out.
    ///
    /// The Message is a read-only buffer over the slot: `memoryview(m)` and
    /// `numpy.frombuffer(m, dtype)` share its memory. Its slot goes back to
    /// the ring when it is released: at the end of a `with` block, by
    /// `release()`, by the next read, or when it is garbage collected; never
    /// while buffer views of it are alive.
    #[pyo3(signature = (timeout = None))]
    fn read(slf: &Bound<'_, Self>, timeout: Option<f64>) -> PyResult<Option<Py<Message>>> {
        let timeout = timeout_arg(timeout)?;
        Consumer::read_message(slf, timeout)
    }

    /// Whether every producer that ever joined has closed or died. Messages
    /// may still be waiting in the ring.
    fn is_disconnected(&self, py: Python<'_>) -> PyResult<bool> {
        let mut guard = self.lock()?;
        let handle = opened(&mut guard)?.idle(py)?;
        // SAFETY: nothing is lent, and nothing is made from the reference.
        Ok(unsafe { handle.get() }.is_disconnected())
    }

    /// Releases the lent message (if its views are gone) and leaves the
    /// ring. Closing a closed consumer does nothing.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let mut slot = self.lock()?;
        if let Some(state) = slot.as_mut() {
            state.release(py, None)?;
        }
        *slot = None;
        Ok(())
    }

    /// Whether the consumer is closed.
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

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// The next message, waiting as long as it takes; the iteration stops
    /// when the ring is drained and every producer is gone.
    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        match self.recv_bytes(py, None) {
            Err(error) if errors::is_disconnected(py, &error) => Ok(None),
            other => other,
        }
    }

    fn __repr__(&self) -> String {
        match self.state.try_lock().map(|state| state.is_some()) {
            Ok(false) => "<shmlane.Consumer (closed)>".to_string(),
            _ => format!(
                "<shmlane.Consumer of a {} ring of {} slots, messages up to {} bytes>",
                self.kind, self.capacity, self.max_payload
            ),
        }
    }
}

/// A message borrowed in place from a ring, lent by `Consumer.read()`.
///
/// A read-only buffer: `memoryview(message)`, `numpy.frombuffer(message,
/// dtype)` and `bytes(message)` read it; the first two share its memory. The
/// slot goes back to the ring at the end of a `with` block or on
/// `release()`, which raise ViewsAliveError while buffer views of it are
/// alive; afterwards the message refuses every use.
#[pyclass(module = "shmlane", name = "Message", frozen, weakref)]
pub(crate) struct Message {
    consumer: Py<Consumer>,
    loan: Arc<Loan>,
}

#[pymethods]
impl Message {
    /// Gives the slot back to the ring. Raises ViewsAliveError while buffer
    /// views of the message are alive; releasing twice does nothing.
    fn release(&self, py: Python<'_>) -> PyResult<()> {
        if self.loan.is_released() {
            return Ok(());
        }
        self.consumer.get().release_loan(py, &self.loan)
    }

    /// Whether the slot went back to the ring.
    #[getter]
    fn released(&self) -> bool {
        self.loan.is_released()
    }

    /// A copy of the message's bytes.
    fn tobytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        Ok(PyBytes::new(py, self.loan.bytes("message")?))
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        self.tobytes(py)
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
        self.release(py)?;
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
        unsafe { slf.get().loan.export(slf.as_any(), view, flags, "message") }
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
            "lent"
        };
        format!("<shmlane.Message of {} bytes, {state}>", self.loan.len())
    }
}

impl Drop for Message {
    /// A message dropped unreleased is released (it has no views: each
    /// holds a reference to it).
    fn drop(&mut self) {
        if self.loan.is_released() {
            return;
        }
        Python::attach(|py| {
            {
                let consumer = self.consumer.get();
                // Nothing to report to: the views are gone, so this succeeds.
                let _ = consumer.release_loan(py, &self.loan);
            }
        });
    }
}

/// The state of an open consumer.
fn opened(state: &mut Option<State>) -> PyResult<&mut State> {
    state
        .as_mut()
        .ok_or_else(|| PyValueError::new_err("operation on a closed consumer"))
}
