//! Bytes-like arguments: anything with a contiguous buffer (bytes,
//! bytearray, memoryview, numpy arrays), read in place.

use std::ffi::c_int;

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use pyo3::{ffi, PyErr};

/// A bytes-like argument, read without a copy. For `bytes` the bytes are
/// borrowed directly; any other object's buffer is held until drop.
pub(crate) enum BytesLike<'py> {
    Bytes(Bound<'py, PyBytes>),
    Buffer(HeldBuffer),
}

/// A buffer taken with `PyObject_GetBuffer`, given back on drop.
pub(crate) struct HeldBuffer {
    view: Box<ffi::Py_buffer>,
}

impl Drop for HeldBuffer {
    fn drop(&mut self) {
        // SAFETY: filled by a successful `PyObject_GetBuffer`, released once;
        // a `HeldBuffer` lives only while the GIL is held (it is made and
        // dropped within one call from Python).
        unsafe { ffi::PyBuffer_Release(&mut *self.view) };
    }
}

impl<'py> BytesLike<'py> {
    /// `object`'s bytes; a `TypeError` if it has no contiguous buffer.
    pub(crate) fn get(object: &Bound<'py, PyAny>) -> PyResult<BytesLike<'py>> {
        if let Ok(bytes) = object.cast::<PyBytes>() {
            return Ok(BytesLike::Bytes(bytes.clone()));
        }
        let mut view = Box::new(ffi::Py_buffer::new());
        // SAFETY: `view` is a valid, writable `Py_buffer`; PyBUF_SIMPLE asks
        // for one contiguous run of bytes (and fails for anything else).
        let got = unsafe {
            ffi::PyObject_GetBuffer(object.as_ptr(), &mut *view, ffi::PyBUF_SIMPLE as c_int)
        };
        if got != 0 {
            let cause = PyErr::fetch(object.py());
            let error = pyo3::exceptions::PyTypeError::new_err(format!(
                "a bytes-like object with one contiguous buffer is required, not '{}'",
                object.get_type().name()?
            ));
            error.set_cause(object.py(), Some(cause));
            return Err(error);
        }
        Ok(BytesLike::Buffer(HeldBuffer { view }))
    }

    /// The bytes.
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            BytesLike::Bytes(bytes) => bytes.as_bytes(),
            BytesLike::Buffer(held) => {
                if held.view.len <= 0 || held.view.buf.is_null() {
                    return &[];
                }
                // SAFETY: a PyBUF_SIMPLE buffer is `len` contiguous bytes at
                // `buf`, valid while it is held (until `held` drops); the GIL,
                // held throughout, keeps its owner from resizing it.
                unsafe {
                    std::slice::from_raw_parts(held.view.buf.cast::<u8>(), held.view.len as usize)
                }
            }
        }
    }
}
