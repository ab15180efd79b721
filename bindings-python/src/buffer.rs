//! Bytes-like arguments: anything with a contiguous buffer (bytes,
//! bytearray, memoryview, numpy arrays), read in place; and writable ones
//! to copy messages into.

use std::ffi::c_int;
use std::ptr::NonNull;

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

impl HeldBuffer {
    /// `object`'s buffer, asked for with `flags`; a `TypeError` naming
    /// `wanted` if it has none such.
    fn get(object: &Bound<'_, PyAny>, flags: c_int, wanted: &str) -> PyResult<HeldBuffer> {
        let mut view = Box::new(ffi::Py_buffer::new());
        // SAFETY: `view` is a valid, writable `Py_buffer`; PyBUF_SIMPLE (with
        // PyBUF_WRITABLE or not) asks for one contiguous run of bytes and
        // fails for anything else.
        let got = unsafe { ffi::PyObject_GetBuffer(object.as_ptr(), &mut *view, flags) };
        if got != 0 {
            let cause = PyErr::fetch(object.py());
            let error = pyo3::exceptions::PyTypeError::new_err(format!(
                "{wanted} with one contiguous buffer is required, not '{}'",
                object.get_type().name()?
            ));
            error.set_cause(object.py(), Some(cause));
            return Err(error);
        }
        Ok(HeldBuffer { view })
    }
}

/// A writable bytes-like argument, held until drop.
pub(crate) struct WritableBuffer(HeldBuffer);

/// The bytes of a [`WritableBuffer`], to copy into with the GIL released.
#[derive(Clone, Copy)]
pub(crate) struct RawBytesMut {
    bytes: *mut u8,
    len: usize,
}

// SAFETY: the pointer is used only while its `WritableBuffer` holds the
// export, by the thread that took it (with the GIL released or held).
unsafe impl Send for RawBytesMut {}

impl WritableBuffer {
    /// `object`'s writable buffer; a `TypeError` if it has none.
    pub(crate) fn get(object: &Bound<'_, PyAny>) -> PyResult<WritableBuffer> {
        let flags = ffi::PyBUF_SIMPLE | ffi::PyBUF_WRITABLE;
        HeldBuffer::get(object, flags, "a writable bytes-like object").map(WritableBuffer)
    }

    /// The bytes, for a copy made while `self` lives.
    pub(crate) fn raw(&self) -> RawBytesMut {
        let view = &self.0.view;
        if view.len <= 0 || view.buf.is_null() {
            return RawBytesMut {
                bytes: NonNull::dangling().as_ptr(),
                len: 0,
            };
        }
        RawBytesMut {
            bytes: view.buf.cast::<u8>(),
            len: view.len as usize,
        }
    }
}

impl RawBytesMut {
    /// The bytes as a slice.
    ///
    /// # Safety
    /// The `WritableBuffer` they came from lives during the use, and no
    /// other slice made from them is in use. Other Python threads may touch
    /// the same bytes meanwhile, as they may while `socket.recv_into` fills
    /// a buffer: what they see is their own race, the bytes stay valid.
    pub(crate) unsafe fn slice<'a>(self) -> &'a mut [u8] {
        // SAFETY: the caller's contract: a held, writable, contiguous buffer
        // of `len` bytes (or a dangling pointer for none).
        unsafe { std::slice::from_raw_parts_mut(self.bytes, self.len) }
    }
}

impl<'py> BytesLike<'py> {
    /// `object`'s bytes; a `TypeError` if it has no contiguous buffer.
    pub(crate) fn get(object: &Bound<'py, PyAny>) -> PyResult<BytesLike<'py>> {
        if let Ok(bytes) = object.cast::<PyBytes>() {
            return Ok(BytesLike::Bytes(bytes.clone()));
        }
        HeldBuffer::get(object, ffi::PyBUF_SIMPLE, "a bytes-like object").map(BytesLike::Buffer)
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
