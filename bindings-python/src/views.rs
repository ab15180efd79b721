//! What a lent message or slot shares with Python: its bytes, exported
//! through the buffer protocol, and the count of live exports that keeps it
//! from being released.
//!
//! A `Message` or `Slot` object and its handle share a [`Loan`]. Every
//! buffer export (a memoryview, a numpy array over it) counts in the loan;
//! the handle releases (or commits) the slot only when the count is zero, and
//! marks the loan released, after which the object refuses new exports. So
//! no view can read a slot after it went back to the ring.

use std::ffi::{c_int, c_void};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use pyo3::exceptions::{PyBufferError, PyValueError};
use pyo3::prelude::*;
use pyo3::{ffi, PyErr};

/// The lent bytes and their export count, shared by the Python object and the
/// handle that lent them.
///
/// Every access happens with the GIL held, through the object or its handle;
/// the atomics make the loan `Sync` for PyO3 and need no ordering of their
/// own (Relaxed throughout).
pub(crate) struct Loan {
    bytes: NonNull<u8>,
    len: usize,
    writable: bool,
    exports: AtomicUsize,
    released: AtomicBool,
}

// SAFETY: `bytes` points into the ring's mapping, which the handle (kept
// alive by the object's reference to it) keeps mapped; the slot it covers is
// owned by the handle's loan until `released` is set, and every access is
// made with the GIL held, so no two threads touch it at once.
unsafe impl Send for Loan {}
// SAFETY: as for `Send`: shared access goes through the GIL.
unsafe impl Sync for Loan {}

impl Loan {
    /// A loan of `len` bytes at `bytes`, writable through exports if `writable`.
    pub(crate) fn new(bytes: NonNull<u8>, len: usize, writable: bool) -> Arc<Loan> {
        Arc::new(Loan {
            bytes,
            len,
            writable,
            exports: AtomicUsize::new(0),
            released: AtomicBool::new(false),
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Number of buffer exports alive.
    pub(crate) fn exports(&self) -> usize {
        self.exports.load(Ordering::Relaxed)
    }

    pub(crate) fn is_released(&self) -> bool {
        self.released.load(Ordering::Relaxed)
    }

    /// Marks the loan released: the handle gave the slot back.
    pub(crate) fn mark_released(&self) {
        self.released.store(true, Ordering::Relaxed);
    }

    /// The bytes, for a copy made now; `what` names the object in the error.
    pub(crate) fn bytes(&self, what: &str) -> PyResult<&[u8]> {
        if self.is_released() {
            return Err(released(what));
        }
        // SAFETY: not released, so the handle still owns the slot and the
        // mapping is alive (see `Send`); the GIL keeps writers through
        // exports from running during the borrow, which ends before any
        // Python code runs.
        Ok(unsafe { std::slice::from_raw_parts(self.bytes.as_ptr(), self.len) })
    }

    /// Fills `view` for an export of the loan by `owner` (the Python object,
    /// which the view keeps a reference to).
    ///
    /// # Safety
    /// `view` is the `Py_buffer` that a `bf_getbuffer` call got.
    pub(crate) unsafe fn export(
        &self,
        owner: &Bound<'_, PyAny>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
        what: &str,
    ) -> PyResult<()> {
        if self.is_released() {
            return Err(released(what));
        }
        if !self.writable && flags & ffi::PyBUF_WRITABLE != 0 {
            return Err(PyBufferError::new_err(format!(
                "the {what} is read-only: it lies in place in the ring"
            )));
        }
        // SAFETY: `view` is valid (the caller's contract); the pointer and
        // length cover the lent slot, which stays lent while the export
        // lives, because releasing waits for the export count to drop to
        // zero. `PyBuffer_FillInfo` takes a reference to `owner`.
        let filled = unsafe {
            ffi::PyBuffer_FillInfo(
                view,
                owner.as_ptr(),
                self.bytes.as_ptr().cast::<c_void>(),
                self.len as ffi::Py_ssize_t,
                c_int::from(!self.writable),
                flags,
            )
        };
        if filled != 0 {
            return Err(PyErr::fetch(owner.py()));
        }
        self.exports.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Counts an export's end (`bf_releasebuffer`).
    pub(crate) fn unexport(&self) {
        self.exports.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The error for a use of a released message or slot (`ValueError`, as for
/// a released memoryview).
pub(crate) fn released(what: &str) -> PyErr {
    PyValueError::new_err(format!(
        "operation on a released {what}: its slot went back to the ring"
    ))
}

/// The buffer views of `owner` that are alive, for an error message: their
/// count and, as far as the garbage collector can tell, what they are.
pub(crate) fn describe_views(owner: &Bound<'_, PyAny>, exports: usize) -> String {
    let plural = if exports == 1 { "" } else { "s" };
    let mut text = format!("{exports} buffer view{plural}");
    let names = view_names(owner).unwrap_or_default();
    if !names.is_empty() {
        text.push_str(": ");
        text.push_str(&names.join(", "));
    }
    text
}

/// What refers to `owner` and is a view: memoryviews (reached through the
/// managed buffer that refers to `owner`) and numpy arrays.
fn view_names(owner: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    let gc = owner.py().import("gc")?;
    let mut names = Vec::new();
    for referrer in gc.call_method1("get_referrers", (owner,))?.try_iter()? {
        let referrer = referrer?;
        let type_name = referrer.get_type().fully_qualified_name()?.to_string();
        match type_name.as_str() {
            "managedbuffer" => {
                for view in gc.call_method1("get_referrers", (&referrer,))?.try_iter()? {
                    let view = view?;
                    if view.get_type().fully_qualified_name()? == "memoryview" {
                        names.push(format!("memoryview of {} bytes", view.len()?));
                    }
                }
            }
            "memoryview" => names.push(format!("memoryview of {} bytes", referrer.len()?)),
            "numpy.ndarray" => names.push(format!(
                "numpy.ndarray of shape {} and dtype {}",
                referrer.getattr("shape")?.str()?,
                referrer.getattr("dtype")?.str()?
            )),
            _ => {}
        }
    }
    Ok(names)
}
