//! The Python binding of shmlane: the native module `shmlane._shmlane`,
//! which the package `shmlane` (`python/shmlane/__init__.py`) re-exports.
//!
//! Modules, from the bottom up: `errors` (the exception classes), `wait`
//! (timeouts, and waits that release the GIL and let Ctrl-C through),
//! `lending` (a Rust handle with the guard it lent to Python), `views` (lent
//! bytes exported through the buffer protocol), `buffer` (bytes-like
//! arguments), then `producer`, `consumer` and `ring`. Every producer and
//! consumer is a kind-erased handle (`AnyProducer`, `AnyConsumer`), so one
//! class serves every kind of ring. `docs/python.md` describes the API.

use pyo3::prelude::*;

mod buffer;
mod consumer;
mod errors;
mod lending;
mod producer;
mod ring;
mod views;
mod wait;

/// Lock-free ring buffers in shared memory (the native part of `shmlane`).
#[pymodule]
#[pyo3(name = "_shmlane")]
fn shmlane_module(module: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(module)?;
    module.add_class::<ring::Ring>()?;
    module.add_class::<producer::Producer>()?;
    module.add_class::<producer::Slot>()?;
    module.add_class::<consumer::Consumer>()?;
    module.add_class::<consumer::Message>()?;
    module.add_function(wrap_pyfunction!(ring::create, module)?)?;
    module.add_function(wrap_pyfunction!(ring::open, module)?)?;
    module.add_function(wrap_pyfunction!(ring::remove, module)?)?;
    Ok(())
}
