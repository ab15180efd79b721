//! Timeouts as float seconds, and blocking calls that release the GIL and
//! let Ctrl-C through.
//!
//! A blocking call first tries without waiting, with the GIL held (the path
//! of a ring that is ready). Otherwise it waits in slices of at most
//! [`SLICE`] with the GIL released, and between slices runs Python's signal
//! handlers, so a KeyboardInterrupt ends the wait within a slice. A slice
//! that ends empty-handed has claimed nothing, so the ring is as it was.

use std::time::{Duration, Instant};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::errors;

/// The longest a blocking call waits with the GIL released before it looks
/// for a signal.
const SLICE: Duration = Duration::from_millis(50);

/// A `timeout` argument in seconds: `None` (or infinity) waits as long as it
/// takes; negative and NaN are refused.
pub(crate) fn timeout_arg(timeout: Option<f64>) -> PyResult<Option<Duration>> {
    match timeout {
        None => Ok(None),
        Some(seconds) if seconds == f64::INFINITY => Ok(None),
        Some(seconds) => Duration::try_from_secs_f64(seconds).map(Some).map_err(|_| {
            PyValueError::new_err(format!(
                "timeout must be None or a non-negative number of seconds, not {seconds}"
            ))
        }),
    }
}

/// A value made while the GIL was released and used after it is taken
/// again, by the same thread.
#[derive(Clone, Copy)]
pub(crate) struct SameThread<T>(pub(crate) T);

// SAFETY: `Python::detach` runs its closure on the calling thread and returns
// its value to that thread; a `SameThread` is only ever returned from such a
// closure, so the value it holds never reaches another thread. (`detach`
// asks for `Send` to keep Python objects out of the closure; a `SameThread`
// holds none: only guards of ring slots.)
unsafe impl<T> Send for SameThread<T> {}

/// Calls `attempt` with the GIL released, in slices of at most [`SLICE`],
/// until it finds something or `timeout` has passed (`None`: no limit);
/// between slices, runs the signal handlers and stops with their exception.
///
/// `attempt` gets the slice's length and returns `None` when the slice
/// passed without what it waits for.
pub(crate) fn in_slices<T: Send>(
    py: Python<'_>,
    timeout: Option<Duration>,
    mut attempt: impl FnMut(Duration) -> Result<Option<T>, shmlane::Error> + Send,
) -> PyResult<Option<T>> {
    let deadline = timeout.and_then(|timeout| Instant::now().checked_add(timeout));
    loop {
        let slice = deadline.map_or(SLICE, |deadline| {
            deadline
                .saturating_duration_since(Instant::now())
                .min(SLICE)
        });
        let found = py
            .detach(|| attempt(slice))
            .map_err(|error| errors::to_py(py, error))?;
        if found.is_some() {
            return Ok(found);
        }
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return Ok(None);
        }
        py.check_signals()?;
    }
}
