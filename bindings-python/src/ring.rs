//! Rings: `shmlane.create`, `shmlane.open`, `shmlane.remove`, and the `Ring`
//! object that producers and consumers join.
//!
//! A `str` is a ring name under /dev/shm; an `os.PathLike` (`pathlib.Path`)
//! is a file anywhere.

use std::path::PathBuf;
use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyString;
use shmlane::{Kind, Location, OpenOptions, RingOptions};

use crate::consumer::Consumer;
use crate::errors;
use crate::producer::Producer;
use crate::wait::timeout_arg;

/// A ring's kind as Python spells it.
pub(crate) fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Spsc => "spsc",
        Kind::Mpmc => "mpmc",
        _ => "unknown",
    }
}

fn kind_arg(kind: &str) -> PyResult<Kind> {
    match kind {
        "spsc" => Ok(Kind::Spsc),
        "mpmc" => Ok(Kind::Mpmc),
        _ => Err(PyValueError::new_err(format!(
            "kind must be \"spsc\" or \"mpmc\", not {kind:?}"
        ))),
    }
}

/// Where a ring lives, owned: a name or a path.
enum At {
    Name(String),
    Path(PathBuf),
}

impl At {
    fn get(at: &Bound<'_, PyAny>) -> PyResult<At> {
        if let Ok(name) = at.cast::<PyString>() {
            return Ok(At::Name(name.to_str()?.to_owned()));
        }
        if at.hasattr("__fspath__")? {
            return Ok(At::Path(at.extract::<PathBuf>()?));
        }
        Err(PyTypeError::new_err(format!(
            "a ring is given by a name (str) or a path (os.PathLike), not '{}'",
            at.get_type().name()?
        )))
    }

    fn location(&self) -> Location<'_> {
        match self {
            At::Name(name) => Location::from(name.as_str()),
            At::Path(path) => Location::from(path),
        }
    }
}

/// A count argument (capacity, sizes): a non-negative int.
fn count(name: &str, value: i64) -> PyResult<u64> {
    u64::try_from(value)
        .map_err(|_| PyValueError::new_err(format!("{name} must not be negative, not {value}")))
}

/// The options of `create`'s arguments.
fn ring_options(
    kind: Kind,
    capacity: u64,
    max_payload: Option<u64>,
    slot_size: Option<u64>,
    fixed_size: bool,
    max_participants: u32,
) -> PyResult<RingOptions> {
    let sizes = (max_payload, slot_size, fixed_size);
    let options = match (kind, sizes) {
        (_, (Some(_), Some(_), _)) => {
            return Err(PyValueError::new_err(
                "give max_payload or slot_size, not both",
            ))
        }
        (_, (None, None, _)) => {
            return Err(PyValueError::new_err(
                "give the size of the messages: max_payload (or slot_size)",
            ))
        }
        (_, (None, Some(_), true)) => {
            return Err(PyValueError::new_err(
                "a ring of fixed-size messages is sized by max_payload (the message size)",
            ))
        }
        (Kind::Spsc, (Some(size), None, true)) => RingOptions::spsc_fixed(capacity, size),
        (Kind::Spsc, (Some(payload), None, false)) => {
            RingOptions::spsc_for_payload(capacity, payload)
        }
        (Kind::Spsc, (None, Some(slot), false)) => RingOptions::spsc(capacity, slot),
        (_, (Some(size), None, true)) => RingOptions::mpmc_fixed(capacity, size, max_participants),
        (_, (Some(payload), None, false)) => {
            let header = kind.slot_header_size(false) as u64;
            let slot = payload.saturating_add(header).saturating_add(7) & !7;
            RingOptions::mpmc(capacity, slot, max_participants)
        }
        (_, (None, Some(slot), false)) => RingOptions::mpmc(capacity, slot, max_participants),
    };
    Ok(options)
}

/// Creates a ring and returns it.
///
/// `at` is a name under /dev/shm (str) or a path (os.PathLike). `kind` is
/// "spsc" (one producer, one consumer) or "mpmc" (many of each, up to
/// `max_participants` handles together). Size it by `max_payload`, the
/// largest message in bytes, or by `slot_size` (a multiple of 8 that
/// includes the slot's header); `capacity` slots, a power of two. With
/// `fixed_size`, every message is exactly `max_payload` bytes (a multiple
/// of 8). `mode` is the file's mode (default 0o600).
///
/// Raises AlreadyExistsError when a file is there, BadNameError,
/// BadGeometryError for sizes out of range.
#[pyfunction]
#[pyo3(signature = (
    at, *, capacity, max_payload = None, slot_size = None, kind = "spsc",
    fixed_size = false, max_participants = 16, mode = 0o600,
))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn create(
    py: Python<'_>,
    at: &Bound<'_, PyAny>,
    capacity: i64,
    max_payload: Option<i64>,
    slot_size: Option<i64>,
    kind: &str,
    fixed_size: bool,
    max_participants: u32,
    mode: u32,
) -> PyResult<Ring> {
    let at = At::get(at)?;
    let options = ring_options(
        kind_arg(kind)?,
        count("capacity", capacity)?,
        max_payload
            .map(|size| count("max_payload", size))
            .transpose()?,
        slot_size.map(|size| count("slot_size", size)).transpose()?,
        fixed_size,
        max_participants,
    )?
    .mode(mode);
    let ring = py
        .detach(|| shmlane::Ring::create(at.location(), &options))
        .map_err(|error| errors::to_py(py, error))?;
    Ok(Ring { ring: Some(ring) })
}

/// Opens the ring at `at` (a name under /dev/shm, or an os.PathLike).
///
/// `kind` ("spsc" or "mpmc") refuses a ring of another kind with
/// WrongKindError. `ready_timeout` (seconds) is how long to wait for a
/// creator still writing the header. Rings of another owner, or that group
/// or others may write, are refused unless `allow_other_owner` or
/// `allow_shared_mode` say otherwise.
///
/// Raises NotFoundError when there is no ring, NotARingError,
/// UnsupportedVersionError, CorruptError, PermissionDeniedError, ...
#[pyfunction]
#[pyo3(signature = (
    at, *, kind = None, ready_timeout = None, allow_other_owner = false,
    allow_shared_mode = false,
))]
pub(crate) fn open(
    py: Python<'_>,
    at: &Bound<'_, PyAny>,
    kind: Option<&str>,
    ready_timeout: Option<f64>,
    allow_other_owner: bool,
    allow_shared_mode: bool,
) -> PyResult<Ring> {
    let at = At::get(at)?;
    let mut options = OpenOptions::new()
        .allow_other_owner(allow_other_owner)
        .allow_shared_mode(allow_shared_mode);
    if let Some(kind) = kind {
        options = options.expect_kind(kind_arg(kind)?);
    }
    if let Some(timeout) = timeout_arg(ready_timeout)? {
        options = options.ready_timeout(timeout);
    } else if ready_timeout.is_some() {
        options = options.ready_timeout(Duration::MAX);
    }
    let ring = py
        .detach(|| options.open(at.location()))
        .map_err(|error| errors::to_py(py, error))?;
    Ok(Ring { ring: Some(ring) })
}

/// Removes the ring at `at` (unlinks its file); handles that are open stay
/// valid until they close.
#[pyfunction]
pub(crate) fn remove(py: Python<'_>, at: &Bound<'_, PyAny>) -> PyResult<()> {
    let at = At::get(at)?;
    shmlane::remove(at.location()).map_err(|error| errors::to_py(py, error))
}

/// A ring, created or opened: join it with `producer()` and `consumer()`.
///
/// A context manager: leaving the block closes the Ring object (its handles
/// keep the mapping until they close).
#[pyclass(module = "shmlane", name = "Ring")]
pub(crate) struct Ring {
    ring: Option<shmlane::Ring>,
}

impl Ring {
    fn ring(&self) -> PyResult<&shmlane::Ring> {
        self.ring
            .as_ref()
            .ok_or_else(|| PyValueError::new_err("operation on a closed ring"))
    }
}

#[pymethods]
impl Ring {
    /// Joins the ring as a producer.
    ///
    /// Raises RoleTakenError on an SPSC ring whose producer lives,
    /// TooManyParticipantsError on a full MPMC ring.
    fn producer(&self, py: Python<'_>) -> PyResult<Producer> {
        Producer::join(py, self.ring()?)
    }

    /// Joins the ring as a consumer.
    ///
    /// Raises RoleTakenError on an SPSC ring whose consumer lives,
    /// TooManyParticipantsError on a full MPMC ring.
    fn consumer(&self, py: Python<'_>) -> PyResult<Consumer> {
        Consumer::join(py, self.ring()?)
    }

    /// The ring's kind: "spsc" or "mpmc".
    #[getter]
    fn kind(&self) -> PyResult<&'static str> {
        Ok(kind_name(self.ring()?.kind()))
    }

    /// The number of slots.
    #[getter]
    fn capacity(&self) -> PyResult<u64> {
        Ok(self.ring()?.geometry().capacity)
    }

    /// The largest message the ring carries, in bytes.
    #[getter]
    fn max_payload(&self) -> PyResult<usize> {
        Ok(self.ring()?.max_payload())
    }

    /// Whether every message is exactly max_payload bytes.
    #[getter]
    fn fixed_size(&self) -> PyResult<bool> {
        Ok(self.ring()?.geometry().fixed_size)
    }

    /// The ring's file.
    #[getter]
    fn path(&self) -> PyResult<String> {
        Ok(self.ring()?.path().to_string_lossy().into_owned())
    }

    /// Closes the Ring object; its producers and consumers stay open.
    fn close(&mut self) {
        self.ring = None;
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __exit__(
        &mut self,
        _kind: Option<&Bound<'_, PyAny>>,
        _value: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> bool {
        self.close();
        false
    }

    fn __repr__(&self) -> String {
        match &self.ring {
            Some(ring) => format!(
                "<shmlane.Ring {} ({}, {} slots, messages up to {} bytes)>",
                ring.path().display(),
                kind_name(ring.kind()),
                ring.geometry().capacity,
                ring.max_payload()
            ),
            None => "<shmlane.Ring (closed)>".to_string(),
        }
    }
}
